"""Claim 15: for whole-message inference (a chat message classified once it has arrived) an LSTM
is slow on messages over 200 tokens, while a Transformer reads the message in parallel.

A recurrent classifier reads a message of n tokens in n dependent steps (Hochreiter and
Schmidhuber 1997; a bidirectional one, Schuster and Paliwal 1997, in two passes of n); a
Transformer encoder (Vaswani et al. 2017, sec. 4) reads all n at once in a few large matrix
products, but its attention does O(n^2 d) work against the recurrence's O(n d^2). So at batch 1
the LSTM's latency grows as n from a small start, the Transformer's as n and eventually n^2; where
the two curves cross is a property of the hardware and the model sizes, which the verdict names.

The two models are the sentiment task's classifiers (seqlab.models.classifier.SequenceClassifier,
built as SentimentTask.build_model builds them) from the ``cpu-small`` preset: its BiLSTM as it
is, and its Transformer with the width grown (same layers, heads and feed-forward ratio) until its
encoder has about as many parameters as the BiLSTM, so "of similar size" holds where the compute
happens. Their weights are untrained: training changes the numbers in the matrices, not the work.
The vocabulary size is the preset's; no data is read, since latency does not depend on the words.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from seqlab.lab.claims.base import Claim, Settings, hardware
from seqlab.lab.claims.interleaved_timing import clock, crossings, interleaved_medians
from seqlab.lab.claims.verdicts import DOES_NOT_HOLD, HOLDS_WITH_CAVEAT, Numbers, Verdict
from seqlab.lab.figures import COLOURS, LABELS, plt, png_bytes
from seqlab.models.backbones import TransformerBackbone
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.tasks.base import RunConfig
from seqlab.tasks.configuration import build_run_config
from seqlab.utils.seeding import init_generator

# ---- verdict rule ----

CLAIM_LENGTH = 200  # the claim's "messages over 200 tokens"
# "Near 200": within a factor of 2 either way (100 to 400 tokens), the resolution of lengths
# measured at doublings; a crossing outside it puts the claim's threshold in another place.
NEAR_FACTOR = 2.0
# Slower by at least this factor somewhere: beyond the jitter between medians of repeated timings.
SLOWER_FACTOR = 1.1

WHOLE_MESSAGE_RULE = (
    f"with r(n) the LSTM classifier's median batch-1 latency over the Transformer's at message "
    f"length n, and the crossing where r rises through 1 interpolated in log-log: holds with a "
    f"caveat (the hardware, named) if the LSTM becomes slower at a crossing within a factor "
    f"{NEAR_FACTOR:g} of {CLAIM_LENGTH} tokens, is at least {SLOWER_FACTOR} times slower "
    f"somewhere, and stays slower up to {CLAIM_LENGTH * NEAR_FACTOR:.0f} tokens; otherwise does "
    f"not hold here (never slower, or slower from a length far from {CLAIM_LENGTH}, or faster "
    f"again soon after). A latency is a property of the hardware, so this claim never simply "
    f"holds."
)


def whole_message_latency(numbers: Numbers) -> Verdict:
    lengths, ratio = numbers["lengths"], numbers["ratio"]
    ratios = [ratio[str(n)] for n in lengths]
    where = f"on {numbers['hardware']}"
    rising = [point["length"] for point in numbers["crossings"] if point["rising"]]
    falling = [point["length"] for point in numbers["crossings"] if not point["rising"]]
    if max(ratios) < SLOWER_FACTOR:
        return DOES_NOT_HOLD, (
            f"the LSTM is never clearly slower than the Transformer (largest ratio "
            f"{max(ratios):.2f}, lengths {lengths[0]:,} to {lengths[-1]:,}) {where}"
        )
    if ratios[0] >= 1.0:
        onset_text = f"already at the shortest length measured, {lengths[0]:,} tokens"
        near = False
    else:
        onset = rising[0]
        onset_text = f"from about {onset:,.0f} tokens"
        near = CLAIM_LENGTH / NEAR_FACTOR <= onset <= CLAIM_LENGTH * NEAR_FACTOR
        falling = [length for length in falling if length > onset]
    slower = f"the LSTM is slower than the Transformer {onset_text}"
    slower += f" (largest ratio {max(ratios):.2f})"
    if falling:
        slower += f", and faster again above about {falling[0]:,.0f} (attention's n^2 work)"
    if falling and falling[0] < CLAIM_LENGTH * NEAR_FACTOR:
        return DOES_NOT_HOLD, f"{slower}: not slower over {CLAIM_LENGTH} tokens {where}"
    if not near:
        return DOES_NOT_HOLD, f"{slower}: the crossing is not near {CLAIM_LENGTH} tokens {where}"
    return HOLDS_WITH_CAVEAT, f"{slower}: depends on the hardware and model sizes, here {where}"


# ---- the two classifiers ----


def encoder_parameters(d_model: int, dim_feedforward: int, num_layers: int) -> int:
    """Parameters of seqlab.nn's Transformer encoder stack (post-norm, biases): per layer the
    attention's in-projection 3 D^2 + 3 D and out-projection D^2 + D, the feed-forward network's
    2 D F + F + D, and two LayerNorms of 2 D each."""
    per_layer = 4 * d_model * d_model + 4 * d_model + 2 * d_model * dim_feedforward
    per_layer += dim_feedforward + d_model + 4 * d_model
    return num_layers * per_layer


def matched_width(config: TransformerConfig, target: int) -> int:
    """The d_model (a multiple of the heads, feed-forward ratio kept) whose encoder has the
    parameter count closest to ``target``."""
    ratio = config.dim_feedforward / config.d_model
    candidates = range(config.num_heads, 8 * config.d_model + 1, config.num_heads)
    return min(
        candidates,
        key=lambda d: abs(encoder_parameters(d, round(ratio * d), config.num_layers) - target),
    )


def build_classifier(run: RunConfig) -> SequenceClassifier:
    """The sentiment classifier of ``run``, as SentimentTask.build_model builds it, for the
    preset's vocabulary size and two classes (pad id 0: the special tokens come first)."""
    model = run.model
    assert isinstance(model, RecurrentConfig | TransformerConfig)  # the families built here
    return SequenceClassifier(
        config=model,
        vocab_size=run.data.vocab_size,
        num_classes=2,
        pad_id=0,
        expected_length=run.data.max_length,
        head_dropout=model.dropout,
        generator=init_generator(run.train.seed),
    )


def classifiers(preset: str, longest: int) -> dict[str, tuple[SequenceClassifier, RunConfig]]:
    """The preset's BiLSTM, and its Transformer widened to about the BiLSTM's parameters with
    positions for ``longest`` tokens plus [CLS]."""
    recurrent_run = build_run_config("sentiment", family="lstm", preset=preset)
    recurrent = build_classifier(recurrent_run)
    target = sum(parameter.numel() for parameter in recurrent.backbone.parameters())
    preset_run = build_run_config("sentiment", family="transformer", preset=preset)
    assert isinstance(preset_run.model, TransformerConfig)
    width = matched_width(preset_run.model, target)
    ratio = preset_run.model.dim_feedforward / preset_run.model.d_model
    overrides = [f"model.d_model={width}", f"model.dim_feedforward={round(ratio * width)}",
                 f"model.max_len={max(preset_run.model.max_len, longest + 1)}"]  # fmt: skip
    transformer_run = build_run_config(
        "sentiment", family="transformer", preset=preset, overrides=overrides
    )
    return {
        "lstm": (recurrent, recurrent_run),
        "transformer": (build_classifier(transformer_run), transformer_run),
    }


def _describe(model: SequenceClassifier, run: RunConfig) -> dict[str, Any]:
    config = run.model
    if isinstance(config, RecurrentConfig):
        direction = "bi" if config.bidirectional else ""
        shape = f"{direction}{config.family.upper()}, {config.num_layers} layer(s) of "
        shape += f"{config.hidden_size}, {config.pooling} pooling"
    else:
        assert isinstance(config, TransformerConfig)
        shape = f"{config.num_layers} layers, d_model {config.d_model}, {config.num_heads} heads, "
        shape += f"feed-forward {config.dim_feedforward}, {config.pooling} pooling"
    # Where the per-token work happens: the recurrent layers, or the encoder stack without the
    # position table (a lookup, whatever its size).
    backbone = model.backbone
    core = backbone.encoder if isinstance(backbone, TransformerBackbone) else backbone
    return {
        "shape": shape,
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "core_parameters": sum(parameter.numel() for parameter in core.parameters()),
    }


# ---- measurement ----


def _message(model: SequenceClassifier, length: int, device: str) -> tuple[torch.Tensor, ...]:
    """A random message of ``length`` tokens as the model reads it: [CLS] first for a Transformer
    pooling [CLS] (the task adds it), and its length."""
    generator = torch.Generator().manual_seed(length)
    vocab = model.embedding.num_embeddings
    extra = 1 if not model.recurrent and model.pooling == "cls" else 0
    ids = torch.randint(5, vocab, (1, length + extra), generator=generator)  # (B, T)
    return ids.to(device), torch.tensor([length + extra], device=device)  # (B, T), (B,)


def measure(settings: Settings) -> dict[str, Any]:
    device = settings["device"]
    lengths = list(settings["lengths"])
    torch.manual_seed(settings["seed"])
    models = classifiers(settings["preset"], max(lengths))
    modules: dict[str, nn.Module] = {name: model.to(device).eval()
                                     for name, (model, _) in models.items()}  # fmt: skip
    seconds: dict[str, dict[str, float]] = {name: {} for name in models}
    for length in lengths:
        calls = {name: partial(module, *_message(models[name][0], length, device))
                 for name, module in modules.items()}  # fmt: skip
        with torch.inference_mode():  # as the sentiment predictor serves a message
            timings = interleaved_medians(
                calls,
                repeats=settings["repeats"],
                warmup=settings["warmup"],
                device=device,
                budget_seconds=settings["seconds_per_length"],
            )
        for name in models:
            seconds[name][str(length)] = timings[name]
    ratio = {str(n): seconds["lstm"][str(n)] / seconds["transformer"][str(n)] for n in lengths}
    return {
        "hardware": hardware(device),
        "device": device,
        "clock": clock(device)[0],
        "preset": settings["preset"],
        "claim_length": CLAIM_LENGTH,
        "lengths": lengths,
        "models": {name: _describe(model, run) for name, (model, run) in models.items()},
        "seconds": seconds,
        "ratio": ratio,
        "crossings": crossings(lengths, [ratio[str(n)] for n in lengths]),
    }


def figure(numbers: Numbers) -> bytes:
    chart, axis = plt.subplots(figsize=(7, 4.2))
    lengths = numbers["lengths"]
    for family in ("lstm", "transformer"):
        milliseconds = [numbers["seconds"][family][str(n)] * 1e3 for n in lengths]
        model = numbers["models"][family]
        label = f"{LABELS[family]}: {model['shape']} ({model['core_parameters']:,} parameters)"
        axis.plot(lengths, milliseconds, "o-", color=COLOURS[family], label=label)
    axis.axvline(numbers["claim_length"], color="grey", linestyle="--",
                 label=f"the claim's {numbers['claim_length']} tokens")  # fmt: skip
    for point in numbers["crossings"]:
        axis.axvline(point["length"], color="black", linestyle=":", linewidth=1)
        axis.annotate(f"cross {point['length']:,.0f}", (point["length"], 0.02),
                      xycoords=("data", "axes fraction"), rotation=90, fontsize=7)  # fmt: skip
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("message length (tokens, batch of 1)")
    axis.set_ylabel("classification latency, median (ms)")
    axis.set_title(f"Sentiment classifiers on {numbers['hardware']}", fontsize=9)
    axis.legend(fontsize=7)
    return png_bytes(chart)


CLAIM = Claim(
    number=15,
    id="whole-message-latency",
    statement=(
        "For whole-message inference an LSTM is slow on messages over 200 tokens, while a "
        "Transformer reads the message in parallel: batch-1 latency against message length for "
        "a recurrent and a Transformer classifier of similar size, and where the curves cross."
    ),
    design=(
        "The sentiment task's classifiers from the cpu-small preset, untrained: its BiLSTM "
        "(256 units a direction, max pooling) and its Transformer ([CLS] pooling) widened so "
        "that its encoder has about the BiLSTM's parameters. Each classifies one random "
        "message (batch 1, inference mode, as the sentiment predictor does) at lengths doubling "
        "from 4 tokens; each latency is the median over repeats after a warm-up, the two timed "
        "in alternation (on one CPU thread, the process's CPU time). The LSTM/Transformer "
        "latency ratio gives where the curves cross (interpolated in log-log), which decides."
    ),
    rule=WHOLE_MESSAGE_RULE,
    verdict=whole_message_latency,
    measure=measure,
    figure=figure,
    quick={"preset": "cpu-small", "lengths": [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
           "repeats": 7, "warmup": 2, "seconds_per_length": 2.0, "seed": 0},
    full={"preset": "cpu-small",
          "lengths": [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
          "repeats": 21, "warmup": 3, "seconds_per_length": 10.0, "seed": 0},
)  # fmt: skip
