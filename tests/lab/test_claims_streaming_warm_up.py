"""seqlab claims 7 (streaming latency) and 12 (learning-rate warm-up): every verdict each rule
can give, on synthetic numbers; the streaming steps against full forwards and torch.nn.LSTM;
the warm-up runs on tiny settings against the uniform predictor's loss."""

from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seqlab.lab.claims import streaming_latency as streaming
from seqlab.lab.claims import verdicts, warm_up
from seqlab.tasks.configuration import build_run_config

# --- claim 7: streaming latency -------------------------------------------------------------


def _latencies(recurrent: list[float], cached: list[float], reencode: list[float]) -> dict:
    lengths = [16, 64, 256, 1024]
    seconds = {
        path: dict(zip(map(str, lengths), values, strict=True))
        for path, values in (("recurrent", recurrent), ("cached", cached), ("reencode", reencode))
    }
    return {
        "hardware": "Test CPU, 1 torch thread(s)",
        "lengths": lengths,
        "seconds": seconds,
        "slopes": {
            path: streaming.log_log_slope(lengths, list(by_length.values()))
            for path, by_length in seconds.items()
        },
        "linear_fit": {
            path: list(streaming.linear_fit(lengths, list(by_length.values())))
            for path, by_length in seconds.items()
        },
    }


FLAT = [1e-4, 1e-4, 1e-4, 1e-4]
CACHED = [4e-4, 4.2e-4, 5e-4, 8e-4]
REENCODE = [5e-4, 1e-3, 4e-3, 2e-2]


@pytest.mark.parametrize(
    ("numbers", "expected", "words"),
    [
        (_latencies(FLAT, CACHED, REENCODE), verdicts.HOLDS_WITH_CAVEAT, "Test CPU"),
        # The cached step as fast as the recurrent one at the longest prefix.
        (_latencies(FLAT, [1e-4, 1e-4, 1e-4, 1.05e-4], REENCODE), verdicts.DOES_NOT_HOLD,
         "key/value cache"),
        (_latencies(FLAT, CACHED, [5e-5, 6e-5, 8e-5, 1e-4]), verdicts.DOES_NOT_HOLD,
         "re-encoding"),
        # The recurrent step grows with the prefix (slope 0.5), though still the cheapest.
        (_latencies([1e-5, 2e-5, 4e-5, 8e-5], CACHED, REENCODE), verdicts.DOES_NOT_HOLD,
         "grows"),
    ],
)  # fmt: skip
def test_streaming_rule(numbers: dict, expected: str, words: str) -> None:
    verdict, reason = streaming.streaming_latency(numbers)
    assert verdict == expected
    assert words in reason


def test_slope_and_straight_line_fit_against_hand_computations() -> None:
    lengths = [16, 64, 256, 1024]
    assert streaming.log_log_slope(lengths, [3e-6 * n**2 for n in lengths]) == pytest.approx(2.0)
    assert streaming.log_log_slope(lengths, [7e-4] * 4) == pytest.approx(0.0, abs=1e-12)
    a, b = streaming.linear_fit(lengths, [4e-4 + 2e-7 * n for n in lengths])
    assert (a, b) == (pytest.approx(4e-4), pytest.approx(2e-7))


TINY_STREAMING = {"vocabulary": 11, "layers": 2, "d_model": 16, "heads": 2, "seed": 0}


def _tiny_models(context: int = 12) -> tuple:
    torch.manual_seed(0)
    recurrent, transformer = streaming.matched_models(TINY_STREAMING, context=context)
    return recurrent.eval(), transformer.eval()


def test_lstm_stack_is_the_closest_match_to_the_transformer_blocks() -> None:
    recurrent, transformer = _tiny_models()
    hidden = recurrent.config.hidden_size
    reference = torch.nn.LSTM(hidden, hidden, num_layers=2)
    lstm_parameters = sum(p.numel() for p in recurrent.backbone.parameters())
    assert lstm_parameters == sum(p.numel() for p in reference.parameters())
    target = sum(p.numel() for p in transformer.blocks.parameters())
    gap = abs(lstm_parameters - target)
    for other in (hidden - 1, hidden + 1):
        assert gap <= abs(sum(p.numel() for p in torch.nn.LSTM(other, other, 2).parameters())
                          - target)  # fmt: skip


def test_recurrent_step_equals_torch_lstm_over_the_whole_sequence() -> None:
    recurrent, _ = _tiny_models()
    ids = torch.randint(11, (1, 9), generator=torch.Generator().manual_seed(1))  # (1, n + 1)
    hidden = recurrent.config.hidden_size
    reference = torch.nn.LSTM(hidden, hidden, num_layers=2, batch_first=True)
    reference.load_state_dict(
        {
            name.removeprefix("rnn."): tensor
            for name, tensor in recurrent.backbone.state_dict().items()
        }
    )
    with torch.no_grad():
        outputs, _ = reference(recurrent.embedding(ids))  # (1, n + 1, hidden)
        expected = F.linear(outputs[:, -1], recurrent.output_weight, recurrent.output_bias)
        _, state = recurrent.start(ids[:, :-1])
        step, _ = recurrent.decode_step(ids[:, -1:], state)  # (1, V)
    torch.testing.assert_close(step, expected, rtol=1e-5, atol=1e-5)


def test_cached_step_equals_the_reencoded_prefix_at_every_repeat() -> None:
    _, transformer = _tiny_models()
    ids = torch.randint(11, (1, 9), generator=torch.Generator().manual_seed(2))  # (1, n + 1)
    with torch.no_grad():
        expected = transformer(ids)[:, -1]  # (1, V)
        _, state = transformer.start(ids[:, :-1], use_cache=True)
        saved = streaming._saved(state.cache)
        # The timed call restores the prefix's cache first, so every repeat is the same step.
        for _ in range(3):
            step = streaming._cached_step(transformer, ids[:, -1:], state, saved)
            torch.testing.assert_close(step, expected, rtol=1e-5, atol=1e-5)
            assert state.cache is not None and state.cache.offset == 9
        streaming._restore(state.cache, saved)
    assert state.cache.offset == 8


def test_streaming_measure_at_tiny_settings() -> None:
    settings = {**TINY_STREAMING, "lengths": [4, 8], "repeats": 3, "warmup": 1, "device": "cpu"}
    numbers = streaming.measure(settings)
    hidden = numbers["lstm_hidden_size"]
    for n in (4, 8):
        # Float32: h and c of (layers, 1, hidden); keys and values of (1, n, d_model) per layer.
        assert numbers["state_bytes"]["recurrent"][str(n)] == 2 * 2 * hidden * 4
        assert numbers["state_bytes"]["cached"][str(n)] == 2 * 2 * n * 16 * 4
        assert all(numbers["seconds"][path][str(n)] > 0 for path in streaming.PATHS)
    assert max(numbers["max_abs_difference"].values()) < 1e-5
    assert set(numbers["slopes"]) == set(streaming.PATHS)
    assert streaming.CLAIM.verdict(numbers)[0] in verdicts.VERDICTS
    assert streaming.figure(numbers).startswith(b"\x89PNG")


# --- claim 12: learning-rate warm-up ---------------------------------------------------------


def _cell(placement: str, lr: float, warm: list, cold: list) -> dict:
    return {"placement": placement, "learning_rate": lr,
            "warm_up": {"final_loss": warm, "curves": [None] * len(warm)},
            "no_warm_up": {"final_loss": cold, "curves": [None] * len(cold)}}  # fmt: skip


def _warm(*cells: dict) -> dict:
    return {"cells": list(cells), "seeds": 3, "steps": 200, "warmup_steps": 50,
            "learning_rates": sorted({cell["learning_rate"] for cell in cells})}  # fmt: skip


BETTER = [2.50, 2.52, 2.54]
WORSE = [2.90, 2.95, 3.00]
NOISY = [2.40, 2.90, 3.10]


@pytest.mark.parametrize(
    ("numbers", "expected", "words"),
    [
        (_warm(_cell("post-norm", 0.02, BETTER, WORSE), _cell("pre-norm", 0.02, BETTER, WORSE)),
         verdicts.HOLDS, "every placement"),
        (_warm(_cell("post-norm", 0.02, WORSE, WORSE), _cell("pre-norm", 0.02, BETTER, WORSE)),
         verdicts.HOLDS_WITH_CAVEAT, "depends on the layer-norm placement"),
        (_warm(_cell("pre-norm", 0.005, BETTER, BETTER), _cell("pre-norm", 0.02, BETTER, WORSE)),
         verdicts.HOLDS_WITH_CAVEAT, "depends on the peak learning rate"),
        # A gain smaller than the seeds' spread does not count.
        (_warm(_cell("post-norm", 0.02, BETTER, NOISY)), verdicts.DOES_NOT_HOLD, "spread"),
        # Fewer diverged runs with warm-up counts as help.
        (_warm(_cell("post-norm", 0.02, BETTER, [None, None, 2.5])), verdicts.HOLDS, "diverged"),
        (_warm(_cell("post-norm", 0.02, [None, 2.5, 2.5], BETTER)), verdicts.DOES_NOT_HOLD,
         "diverged"),
        ({"missing": "SEQLAB_DATA is unset"}, verdicts.NOT_YET_MEASURABLE, "SEQLAB_DATA"),
    ],
)  # fmt: skip
def test_warm_up_rule(numbers: dict, expected: str, words: str) -> None:
    verdict, reason = warm_up.warm_up_helps(numbers)
    assert verdict == expected
    assert words in reason


def test_gain_and_spread_are_the_means_and_the_larger_standard_deviation() -> None:
    helps, text = warm_up.compare_cell(_cell("pre-norm", 0.02, BETTER, NOISY))
    gain = statistics.mean(NOISY) - statistics.mean(BETTER)
    spread = statistics.stdev(NOISY)  # the larger of the two
    assert helps is (gain > spread) is False
    assert f"gain {gain:+.3f}, spread {spread:.3f}" in text


def test_tuned_learning_rate_is_each_arms_lowest_mean() -> None:
    cells = [_cell("pre-norm", 0.005, WORSE, BETTER), _cell("pre-norm", 0.02, BETTER, WORSE)]
    best = warm_up.tuned(cells)["pre-norm"]
    assert best["warm_up"]["learning_rate"] == 0.02
    assert best["no_warm_up"]["learning_rate"] == 0.005
    assert best["no_warm_up"]["mean_final_loss"] == pytest.approx(statistics.mean(BETTER))


TINY_WARM_UP = {"characters": 3000, "layers": 1, "d_model": 8, "heads": 2, "context": 8,
                "batch_size": 4, "steps": 4, "warmup_steps": 2, "eval_every": 2,
                "learning_rates": [1e-9], "seeds": 2, "device": "cpu"}  # fmt: skip


def test_both_arms_share_everything_but_the_warm_up(tmp_path: Path) -> None:
    def run(warmup_steps: int) -> object:
        overrides = warm_up._overrides(
            TINY_WARM_UP,
            tmp_path / "text.txt",
            norm_first=False,
            learning_rate=0.02,
            warmup_steps=warmup_steps,
            seed=3,
        )
        return build_run_config("lm", family="transformer", overrides=overrides)

    warm, cold = run(2), run(0)
    assert (warm.train.warmup_steps, cold.train.warmup_steps) == (2, 0)
    assert warm.train.schedule == "cosine" and warm.train.lr == 0.02
    assert dataclasses.replace(warm, train=dataclasses.replace(warm.train, warmup_steps=0)) == cold
    assert warm.model.norm_first is False


def test_warm_up_without_the_text_is_not_yet_measurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEQLAB_DATA", raising=False)
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path))
    numbers = warm_up.measure(TINY_WARM_UP)
    verdict, reason = warm_up.CLAIM.verdict(numbers)
    assert verdict == verdicts.NOT_YET_MEASURABLE
    assert "SEQLAB_DATA" in reason
    assert warm_up.figure(numbers).startswith(b"\x89PNG")


def test_warm_up_measure_at_a_vanishing_learning_rate_stays_uniform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a learning rate of 1e-9 nothing is learned; GPT-2's initialisation (std 0.02) makes
    # every logit small (std about 0.02 sqrt(D)), so the validation loss is near ln(V), the
    # uniform predictor's.
    text = "".join(chr(ord("a") + (i * 7) % 13) for i in range(3000))
    source = tmp_path / "input.txt"
    source.write_text(text, encoding="utf-8")
    monkeypatch.setattr(warm_up, "resolve_file", lambda *args, **kwargs: source)
    numbers = warm_up.measure(TINY_WARM_UP)
    uniform = math.log(13 + 1)  # 13 letters and the unknown symbol
    assert [cell["placement"] for cell in numbers["cells"]] == ["post-norm", "pre-norm"]
    for cell in numbers["cells"]:
        for arm in warm_up.ARMS:
            assert len(cell[arm]["final_loss"]) == 2
            for final, curve in zip(cell[arm]["final_loss"], cell[arm]["curves"], strict=True):
                assert [step for step, _ in curve] == [2, 4]
                assert final == curve[-1][1] == pytest.approx(uniform, abs=0.03)
        assert cell["warm_up_helps"] is False
    assert warm_up.CLAIM.verdict(numbers)[0] == verdicts.DOES_NOT_HOLD
    assert warm_up.figure(numbers).startswith(b"\x89PNG")
