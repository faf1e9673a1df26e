"""Claim 7: RNNs suit streaming: a recurrent step per new token costs the same at any prefix
length, while a Transformer either re-encodes the prefix or attends over a growing cache.

Three ways to get the next-token logits after a prefix of n tokens, one new token at a time:

- recurrent step (Elman 1990; Hochreiter and Schmidhuber 1997): h_t = f(h_{t-1}, x_t). The
  state (h, c) has a fixed size, so one step costs the same whatever n: O(1) per token.
- re-encoding (Vaswani et al. 2017, sec. 3.2.3): a causal forward over all n + 1 tokens for
  each new one. Its feed-forward and projections cost O(n) per token and self-attention O(n^2).
- key/value cache (the decoding every GPT-style model uses; Radford et al. 2019): the new
  token's query attends over the n cached keys and values, so a step costs O(1) for the
  projections and feed-forward plus O(n D) for attention, and the cache holds 2 L n D numbers.

All three read seqlab's own language models (seqlab.models.language_model): RecurrentLM's
``decode_step`` carries the LSTM state, TransformerLM's ``decode_step`` its cache, and
``start(window, use_cache=False)`` re-reads the window. The models are matched in the parameter
count of their bodies (the LSTM stack against the Transformer blocks, embeddings aside: the
position table grows with the context, and a table lookup costs nothing per token).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import matplotlib.ticker
import torch
from torch import Tensor, nn

from seqlab.lab.claims.base import Claim, Settings, hardware
from seqlab.lab.claims.scaling import log_log_slope
from seqlab.lab.claims.short_sequences import median_seconds
from seqlab.lab.claims.verdicts import (
    DOES_NOT_HOLD,
    HOLDS_WITH_CAVEAT,
    Numbers,
    Verdict,
)
from seqlab.lab.figures import COLOURS, plt, png_bytes
from seqlab.models.language_model import (
    RecurrentLM,
    RecurrentLMState,
    TransformerLM,
    TransformerLMState,
)
from seqlab.models.language_model_config import LMRecurrentConfig, LMTransformerConfig
from seqlab.nn.attention import KVCache

# ---- verdict rule ----

# Cheaper by at least this factor: beyond the jitter between medians of repeated timings.
CHEAPER_FACTOR = 1.1
# Flat: the fitted log-log slope of the step's latency against the prefix length at most this.
# Linear growth is a slope of 1; at 0.1 the latency would still rise by half over 16 to 1,024
# tokens, several times the jitter between medians (about 10%, a slope near 0.02 over that range).
FLAT_SLOPE = 0.1
STREAMING_RULE = (
    f"with t(n) the median per-token latency after a prefix of n tokens (batch of 1) and s the "
    f"least-squares slope of log t against log n: holds with a caveat (the hardware, named) if "
    f"at the longest prefix the recurrent step is at least {CHEAPER_FACTOR} times cheaper than "
    f"both the cached Transformer step and re-encoding the prefix, and the recurrent step is "
    f"flat (s at most {FLAT_SLOPE}); otherwise does not hold here. The reason also gives each "
    f"path's straight-line fit t(n) = a + b n (a fixed cost, b per prefix token), which shows "
    f"how the cached step grows. A latency is a property of the hardware and its kernels, so "
    f"this claim never simply holds."
)

PATHS = ("recurrent", "cached", "reencode")
PATH_LABELS = {
    "recurrent": "LSTM step (state carried)",
    "cached": "Transformer step (key/value cache)",
    "reencode": "Transformer re-encoding the prefix",
}


def linear_fit(lengths: list[int], seconds: list[float]) -> tuple[float, float]:
    """Least-squares (a, b) of seconds = a + b * length: a fixed cost and a cost per token."""
    x_mean, y_mean = sum(lengths) / len(lengths), sum(seconds) / len(seconds)
    spread = sum((x - x_mean) ** 2 for x in lengths)
    b = sum((x - x_mean) * (y - y_mean) for x, y in zip(lengths, seconds, strict=True)) / spread
    return y_mean - b * x_mean, b


def streaming_latency(numbers: Numbers) -> Verdict:
    longest = str(max(numbers["lengths"]))
    seconds = {path: numbers["seconds"][path][longest] for path in PATHS}
    slopes = numbers["slopes"]
    hardware = numbers["hardware"]
    micro = {path: f"{seconds[path] * 1e6:,.0f} us" for path in PATHS}
    fixed, per_token = numbers["linear_fit"]["cached"]
    measured = (
        f"at {longest} tokens a recurrent step takes {micro['recurrent']}, a cached step "
        f"{micro['cached']}, re-encoding {micro['reencode']}; log-log slopes: recurrent "
        f"{slopes['recurrent']:.2f}, cached {slopes['cached']:.2f}, re-encoding "
        f"{slopes['reencode']:.2f}; the cached step costs {fixed * 1e6:,.0f} us plus "
        f"{per_token * 1e9:,.0f} us per 1,000 prefix tokens"
    )
    slower = [path for path in ("cached", "reencode")
              if seconds[path] < CHEAPER_FACTOR * seconds["recurrent"]]  # fmt: skip
    if slower:
        names = " and ".join(PATH_LABELS[path] for path in slower)
        return DOES_NOT_HOLD, f"the recurrent step is not clearly cheaper than {names}: {measured}"
    if slopes["recurrent"] > FLAT_SLOPE:
        return DOES_NOT_HOLD, f"the recurrent step's cost grows with the prefix: {measured}"
    return HOLDS_WITH_CAVEAT, f"{measured}: depends on the hardware, here {hardware}"


# ---- the models ----


def _count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def matched_models(settings: Settings, *, context: int) -> tuple[RecurrentLM, TransformerLM]:
    """A GPT-style TransformerLM (no dropout) and the LSTM language model of as many layers
    whose recurrent stack's parameter count is closest to the Transformer blocks'."""
    vocabulary, layers = settings["vocabulary"], settings["layers"]
    transformer = TransformerLM(
        LMTransformerConfig(num_layers=layers, num_heads=settings["heads"],
                            d_model=settings["d_model"], context=context, dropout=0.0),
        vocab_size=vocabulary,
    )  # fmt: skip
    target = _count(transformer.blocks)

    def lstm_count(hidden: int) -> int:
        # Each layer reads hidden_size inputs (the tied embedding is hidden_size wide): 4 gates
        # of W_ih, W_hh and two biases, 4 (2 H^2 + 2 H).
        return layers * 4 * (2 * hidden * hidden + 2 * hidden)

    hidden = min(range(1, 8 * settings["d_model"]), key=lambda h: abs(lstm_count(h) - target))
    recurrent = RecurrentLM(
        LMRecurrentConfig(family="lstm", hidden_size=hidden, num_layers=layers, dropout=0.0),
        vocab_size=vocabulary,
    )
    return recurrent, transformer


# Each layer's cached (key, value, key padding mask).
SavedCache = list[tuple[Tensor | None, Tensor | None, Tensor | None]]


def _saved(cache: Any) -> SavedCache:
    layers: list[KVCache] = cache.layers
    return [(layer.key, layer.value, layer.key_padding_mask) for layer in layers]


def _restore(cache: Any, saved: SavedCache) -> None:
    """Put back the cache of the prefix. A step appends by concatenation into new tensors, so
    the prefix's own tensors are untouched and restoring them copies nothing."""
    for layer, (key, value, mask) in zip(cache.layers, saved, strict=True):
        layer.key, layer.value, layer.key_padding_mask = key, value, mask


def _cached_step(
    model: TransformerLM, token: Tensor, state: TransformerLMState, saved: SavedCache
) -> Tensor:
    """One cached decoding step after the prefix whose cache is ``saved``: the call timed."""
    _restore(state.cache, saved)
    logits, _ = model.decode_step(token, state)  # (1, V)
    return logits


def _state_bytes(state: Any) -> int:
    """Bytes of a tensor or a tuple of tensors (None counts nothing)."""
    tensors = state if isinstance(state, tuple) else (state,)
    return sum(int(t.numel()) * t.element_size() for t in tensors if t is not None)


def _cache_bytes(state: TransformerLMState) -> int:
    """Bytes of the cached keys and values, every layer."""
    return sum(_state_bytes((key, value)) for key, value, _ in _saved(state.cache))


def step_differences(
    recurrent: RecurrentLM, transformer: TransformerLM, ids: Tensor
) -> dict[str, float]:
    """For ids (1, n + 1): the largest |difference| between each streaming step's logits after
    the last token and the full forward's at that position (the LSTM over the whole sequence;
    the Transformer re-encoding it)."""
    prefix, token = ids[:, :-1], ids[:, -1:]  # (1, n), (1, 1)
    with torch.inference_mode():
        _, lstm_state = recurrent.start(prefix)
        lstm_step, _ = recurrent.decode_step(token, lstm_state)  # (1, V)
        lstm_full = recurrent(ids)[0][:, -1]  # (1, V)
        _, cache_state = transformer.start(prefix, use_cache=True)
        cached_step, _ = transformer.decode_step(token, cache_state)  # (1, V)
        reencoded = transformer(ids)[:, -1]  # (1, V)
    return {
        "recurrent": float((lstm_step - lstm_full).abs().max()),
        "cached": float((cached_step - reencoded).abs().max()),
    }


def measure(settings: Settings) -> dict[str, Any]:
    device = settings["device"]
    lengths = list(settings["lengths"])
    torch.manual_seed(settings["seed"])
    recurrent, transformer = matched_models(settings, context=max(lengths) + 1)
    recurrent, transformer = recurrent.to(device).eval(), transformer.to(device).eval()
    generator = torch.Generator().manual_seed(settings["seed"])
    ids = torch.randint(settings["vocabulary"], (1, max(lengths) + 1), generator=generator)
    ids = ids.to(device)  # (1, N + 1)
    seconds: dict[str, dict[str, float]] = {path: {} for path in PATHS}
    state_bytes: dict[str, dict[str, int]] = {"recurrent": {}, "cached": {}}
    differences = {"recurrent": 0.0, "cached": 0.0}
    timing = {"repeats": settings["repeats"], "warmup": settings["warmup"], "device": device}
    for n in lengths:
        prefix, token, window = ids[:, :n], ids[:, n : n + 1], ids[:, : n + 1]  # (1, n), (1, 1)
        with torch.inference_mode():
            _, lstm_state = recurrent.start(prefix)
            _, cache_state = transformer.start(prefix, use_cache=True)
            saved = _saved(cache_state.cache)
            calls: dict[str, Callable[[], object]] = {
                # decode_step returns a new state and leaves lstm_state as it was.
                "recurrent": partial(recurrent.decode_step, token, lstm_state),
                "cached": partial(_cached_step, transformer, token, cache_state, saved),
                "reencode": partial(transformer.start, window, use_cache=False),
            }
            for path, call in calls.items():
                seconds[path][str(n)] = median_seconds(call, **timing)
            _restore(cache_state.cache, saved)
        assert isinstance(lstm_state, RecurrentLMState)
        state_bytes["recurrent"][str(n)] = _state_bytes(lstm_state.hidden)
        state_bytes["cached"][str(n)] = _cache_bytes(cache_state)
        for path, difference in step_differences(recurrent, transformer, window).items():
            differences[path] = max(differences[path], difference)
    return {
        "hardware": hardware(device),
        "lengths": lengths,
        "parameters": {
            "lstm_stack": _count(recurrent.backbone),
            "transformer_blocks": _count(transformer.blocks),
            "lstm_total": _count(recurrent),
            "transformer_total": _count(transformer),
        },
        "lstm_hidden_size": recurrent.config.hidden_size,
        "transformer": {
            "layers": settings["layers"],
            "d_model": settings["d_model"],
            "heads": settings["heads"],
        },
        "seconds": seconds,
        "slopes": {
            path: log_log_slope(lengths, list(by_length.values()))
            for path, by_length in seconds.items()
        },
        # [a seconds, b seconds per token] of t(n) = a + b n.
        "linear_fit": {
            path: list(linear_fit(lengths, list(by_length.values())))
            for path, by_length in seconds.items()
        },
        "state_bytes": state_bytes,
        # The streaming steps against the full forwards (float32 rounding only).
        "max_abs_difference": differences,
    }


def figure(numbers: Numbers) -> bytes:
    chart, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.8))
    lengths = numbers["lengths"]
    styles = {"recurrent": (COLOURS["lstm"], "o-"), "cached": (COLOURS["transformer"], "s-"),
              "reencode": (COLOURS["transformer"], "^--")}  # fmt: skip
    for path in PATHS:
        colour, style = styles[path]
        microseconds = [numbers["seconds"][path][str(n)] * 1e6 for n in lengths]
        label = f"{PATH_LABELS[path]} (slope {numbers['slopes'][path]:.2f})"
        left.plot(lengths, microseconds, style, color=colour, label=label)
    for path in ("recurrent", "cached"):
        colour, style = styles[path]
        kib = [numbers["state_bytes"][path][str(n)] / 1024 for n in lengths]
        right.plot(lengths, kib, style, color=colour, label=PATH_LABELS[path])
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # only the lengths run
        axis.set_xticks(lengths)
        axis.set_xticklabels([str(n) for n in lengths])
        axis.set_xlabel("prefix length n (tokens, batch of 1)")
        axis.legend(fontsize=7)
    left.set_ylabel("latency per new token, median (microseconds)")
    left.set_title(f"Per-token latency on {numbers['hardware']}", fontsize=9)
    right.set_ylabel("state carried between tokens (KiB)")
    right.set_title("What each streaming path keeps", fontsize=9)
    return png_bytes(chart)


CLAIM = Claim(
    number=7,
    id="streaming-latency",
    statement=(
        "RNNs suit streaming: a recurrent step per token is cheaper than re-encoding a "
        "Transformer prefix, and than a Transformer decoder's cached step, and its cost does not "
        "grow with the prefix."
    ),
    design=(
        "seqlab's two language models with random weights over a 65-symbol vocabulary: a "
        "GPT-style TransformerLM (pre-norm, no dropout) and an LSTM RecurrentLM of as many "
        "layers whose stack's parameter count is closest to the Transformer blocks'. For each "
        "prefix length n (16 to 1,024 tokens, batch of 1, evaluation mode, no gradients) three "
        "ways to get the next token's logits are timed: the LSTM's decode_step carrying its "
        "state, the Transformer's decode_step with its key/value cache of the n prefix tokens "
        "(restored before each repeat), and a full causal forward over all n + 1 tokens "
        "(re-encoding). Each latency is the median of many repeats after a warm-up; on a GPU "
        "each run waits for the device. The streaming steps are checked against the full "
        "forwards (largest logit difference reported), and the size of the state each path "
        "carries is recorded. The latencies at the longest prefix and the log-log slopes decide."
    ),
    rule=STREAMING_RULE,
    verdict=streaming_latency,
    measure=measure,
    figure=figure,
    quick={"vocabulary": 65, "layers": 2, "d_model": 128, "heads": 4,
           "lengths": [16, 64, 256, 1024], "repeats": 100, "warmup": 5, "seed": 0},
    full={"vocabulary": 65, "layers": 2, "d_model": 128, "heads": 4,
          "lengths": [16, 32, 64, 128, 256, 512, 1024], "repeats": 300, "warmup": 10, "seed": 0},
)  # fmt: skip
