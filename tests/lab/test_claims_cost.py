"""seqlab claims 4, 5 and 15 (cost by length, parallel training, whole-message latency): the
peak-memory tracker against hand counts, the slope fit and the crossing interpolation against
hand computations, every verdict each rule can give, and the measurements on tiny settings.
Timings are never asserted: they depend on the machine."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from seqlab.lab.claims import cost_by_length, parallel_training, verdicts
from seqlab.lab.claims import whole_message_latency as whole_message
from seqlab.lab.claims.interleaved_timing import crossings, interleaved_medians
from seqlab.lab.claims.peak_memory import LiveTensorBytes, peak_bytes
from seqlab.lab.claims.scaling import log_log_slope
from seqlab.lab.claims.scaling import slopes as slopes_of
from seqlab.lab.claims.short_sequences import matched_layers
from seqlab.nn import MultiHeadAttention, TransformerEncoder, scaled_dot_product_attention

FLOAT = 4  # bytes of a float32

# --- the peak-memory tracker against hand counts ------------------------------------------------


def test_tracker_counts_new_storages_once_and_frees_them() -> None:
    T, D = 50, 30
    x, w = torch.randn(T, D), torch.randn(D, D)
    with LiveTensorBytes() as tracker:
        y = x @ w  # (T, D): one block
        z = torch.relu(y)  # a second block while y lives: the peak
        del y  # back to one block
        after_free = tracker.live
        flat = z.view(-1)  # a view allocates nothing
        z.add_(1.0)  # in place: nothing
        transposed = w.t()  # a view of a tensor made before: nothing
        total = flat.sum()  # one float
    assert tracker.peak == 2 * T * D * FLOAT
    assert after_free == T * D * FLOAT
    assert tracker.live == T * D * FLOAT + FLOAT
    del z, flat, transposed, total


def test_tracker_sees_nothing_for_views_of_tensors_made_before_it() -> None:
    w = torch.randn(64, 64)
    assert peak_bytes(lambda: w.t()[3:].unsqueeze(0), device="cpu") == 0


def test_reference_attention_peak_is_scores_weights_and_output() -> None:
    # Hand count: Q K^T (H, T, T) and its softmax (H, T, T) are both live when the weights
    # multiply V into the output (H, T, Dh); the scaled queries are freed after Q K^T.
    H, T, Dh = 2, 32, 8
    q = torch.randn(1, H, T, Dh)  # (B, H, T, Dh)
    with torch.no_grad():
        peak = peak_bytes(lambda: scaled_dot_product_attention(q, q, q, impl="reference"),
                          device="cpu")  # fmt: skip
    assert peak == (2 * H * T * T + H * T * Dh) * FLOAT


def test_reference_multi_head_attention_peak_adds_the_projected_q_k_v() -> None:
    # The fused (T, 3D) projection of Q, K and V is live through attention; the head merge and
    # the output projection come after the (H, T, T) matrices are freed, so they add nothing.
    H, T, D = 2, 32, 16
    attention = MultiHeadAttention(D, H, impl="reference")
    x = torch.randn(1, T, D)  # (B, T, D)
    with torch.no_grad():
        peak = peak_bytes(lambda: attention(x), device="cpu")
    assert peak == (3 * T * D + 2 * H * T * T + T * D) * FLOAT


# --- slope fit and crossing interpolation against hand computations ----------------------------


def test_tail_slope_is_the_end_to_end_slope_of_three_doublings() -> None:
    # For three points equally spaced in log n the least-squares slope uses only the two ends.
    lengths = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
    cost = {str(n): n + n * n / 1024 for n in lengths}  # linear, then quadratic
    slopes = slopes_of(lengths, cost, 3)
    expected_tail = math.log(cost["8192"] / cost["2048"]) / math.log(4)
    assert slopes["tail"] == pytest.approx(expected_tail, rel=1e-12)
    assert slopes["all"] == pytest.approx(log_log_slope(lengths, list(cost.values())))
    assert 1.0 < slopes["all"] < slopes["tail"] < 2.0
    exact = {str(n): 3.0 * n**2 for n in lengths}
    assert slopes_of(lengths, exact, 3)["tail"] == pytest.approx(2.0)


def test_crossings_are_interpolated_in_log_log() -> None:
    # r goes 0.5 -> 2 between 10 and 100: log r is halfway at log n = 1.5 log 10.
    assert crossings([10, 100], [0.5, 2.0]) == [{"length": pytest.approx(10**1.5),
                                                 "rising": True}]  # fmt: skip
    found = crossings([4, 8, 16, 32], [1.5, 1.2, 0.6, 0.3])
    # Between 8 (1.2) and 16 (0.6): fraction log(1.2)/log(2) of the way in log n.
    fraction = math.log(1.2) / (math.log(1.2) - math.log(0.6))
    assert found == [{"length": pytest.approx(8 * 2**fraction), "rising": False}]
    assert crossings([4, 8], [0.9, 1.0]) == [{"length": pytest.approx(8.0), "rising": True}]
    assert crossings([4, 8, 16], [2.0, 3.0, 1.5]) == []


def test_interleaved_rounds_alternate_and_respect_repeats_and_the_budget() -> None:
    order: list[str] = []
    calls = {name: (lambda name=name: order.append(name)) for name in ("a", "b")}
    medians = interleaved_medians(calls, repeats=4, warmup=1, device="cpu")
    assert order == ["a", "b"] * 5
    assert set(medians) == {"a", "b"}
    order.clear()
    interleaved_medians(calls, repeats=50, warmup=0, device="cpu", budget_seconds=0.0)
    assert order == ["a", "b"] * 3  # a spent budget still leaves the minimum of three rounds


# --- verdict rules on synthetic numbers: every verdict each rule can give ----------------------


def _cost(lstm: float, attention: float, lengths: int = 4) -> dict:
    slope = {"lstm": {"all": lstm, "tail": lstm},
             "attention": {"all": attention, "tail": attention},
             "transformer": {"all": 1.4, "tail": 1.8}}  # fmt: skip
    memory = {"lstm": {"all": 1.0, "tail": 1.0}, "attention": {"all": 1.0, "tail": 1.0},
              "attention_reference": {"all": 2.0, "tail": 2.0}}  # fmt: skip
    measured = [64 * 2**i for i in range(lengths)]
    return {"hardware": "a CPU", "lengths": measured, "tail_lengths": measured[-3:],
            "stopped": None if lengths >= 3 else "out of memory at length 256",
            "time_slope": slope, "memory_slope": memory,
            "attention_path": {"impl": "fused", "kernel": "FLASH_ATTENTION"}}  # fmt: skip


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (_cost(1.0, 1.95), verdicts.HOLDS_WITH_CAVEAT),
        (_cost(1.4, 1.95), verdicts.DOES_NOT_HOLD),
        (_cost(0.6, 1.95), verdicts.DOES_NOT_HOLD),
        (_cost(1.0, 1.5), verdicts.DOES_NOT_HOLD),
        (_cost(1.0, 1.95, lengths=2), verdicts.NOT_YET_MEASURABLE),
    ],
)
def test_cost_by_length_rule(numbers: dict, expected: str) -> None:
    verdict, reason = cost_by_length.cost_by_length(numbers)
    assert verdict == expected
    assert "a CPU" in reason


def test_cost_by_length_caveat_names_the_kernel_and_its_linear_memory() -> None:
    reason = cost_by_length.cost_by_length(_cost(1.0, 1.95))[1]
    assert "FLASH_ATTENTION" in reason and "stays linear" in reason and "2.00" in reason


def _training(ratios: list[float]) -> dict:
    lengths = [16 * 2**i for i in range(len(ratios))]
    ratio = {str(n): r for n, r in zip(lengths, ratios, strict=True)}
    return {"hardware": "a CPU", "clock": "wall clock", "threads": 1, "lengths": lengths,
            "ratio": ratio, "crossings": crossings(lengths, ratios)}  # fmt: skip


@pytest.mark.parametrize(
    ("ratios", "expected", "says"),
    [
        ([1.5, 2.0, 3.0], verdicts.HOLDS_WITH_CAVEAT, "faster at every length"),
        ([0.8, 0.5, 1.05], verdicts.DOES_NOT_HOLD, "at least as fast at every length"),
        ([1.5, 1.2, 0.5], verdicts.DOES_NOT_HOLD, "faster only at lengths 16, 32"),
    ],
)
def test_parallel_training_rule(ratios: list[float], expected: str, says: str) -> None:
    verdict, reason = parallel_training.parallel_training(_training(ratios))
    assert verdict == expected
    assert says in reason and "a CPU" in reason


def _latency(ratios: list[float]) -> dict:
    lengths = [25 * 2**i for i in range(len(ratios))]  # 25, 50, 100, 200, 400, 800
    ratio = {str(n): r for n, r in zip(lengths, ratios, strict=True)}
    return {"hardware": "a CPU", "lengths": lengths, "ratio": ratio,
            "crossings": crossings(lengths, ratios)}  # fmt: skip


@pytest.mark.parametrize(
    ("ratios", "expected", "says"),
    [
        # Crossing between 100 (0.8) and 200 (1.25): near 200, slower to the end.
        ([0.5, 0.6, 0.8, 1.25, 1.6, 2.0], verdicts.HOLDS_WITH_CAVEAT, "from about 1"),
        ([0.5, 0.6, 0.7, 0.8, 0.9, 1.05], verdicts.DOES_NOT_HOLD, "never clearly slower"),
        ([0.8, 1.5, 2.0, 2.0, 2.0, 2.0], verdicts.DOES_NOT_HOLD, "not near 200"),
        ([1.2, 1.5, 2.0, 2.0, 2.0, 2.0], verdicts.DOES_NOT_HOLD, "already at the shortest"),
        ([0.5, 0.6, 0.8, 1.25, 0.9, 0.5], verdicts.DOES_NOT_HOLD, "not slower over 200"),
    ],
)
def test_whole_message_rule(ratios: list[float], expected: str, says: str) -> None:
    verdict, reason = whole_message.whole_message_latency(_latency(ratios))
    assert verdict == expected
    assert says in reason and "a CPU" in reason


def test_whole_message_crossing_in_the_reason_is_the_interpolated_one() -> None:
    numbers = _latency([0.5, 0.6, 0.8, 1.25, 1.6, 2.0])
    expected = 100 * 2 ** (math.log(1 / 0.8) / math.log(1.25 / 0.8))
    assert f"from about {expected:,.0f} tokens" in whole_message.whole_message_latency(numbers)[1]


# --- the measurements on tiny settings ----------------------------------------------------------


def test_cost_by_length_measures_the_reference_matrices_and_fits_every_slope() -> None:
    settings = {"device": "cpu", "d_model": 16, "heads": 2, "lengths": [16, 32, 64],
                "tail_points": 2, "repeats": 1, "warmup": 0, "seconds_per_length": 0.0,
                "seed": 0}  # fmt: skip
    numbers = cost_by_length.measure(settings)
    lstm, transformer = matched_layers(16, 2)
    assert numbers["parameters"] == {
        "lstm": sum(p.numel() for p in lstm.parameters()),
        "transformer": sum(p.numel() for p in transformer.parameters()),
        "attention": sum(p.numel() for p in transformer.self_attn.parameters()),
    }
    for n in (16, 32, 64):  # the hand count of the reference test above, for this layer
        expected = (3 * n * 16 + 2 * 2 * n * n + n * 16) * FLOAT
        assert numbers["peak_bytes"]["attention_reference"][str(n)] == expected
        # The LSTM's outputs (T, hidden) are live at the end: a floor for its peak.
        assert numbers["peak_bytes"]["lstm"][str(n)] >= n * lstm.hidden_size * FLOAT
    reference = numbers["peak_bytes"]["attention_reference"]
    assert numbers["memory_slope"]["attention_reference"]["tail"] == pytest.approx(
        math.log(reference["64"] / reference["32"]) / math.log(2)
    )
    assert numbers["tail_lengths"] == [32, 64]
    assert numbers["attention_path"]["impl"] == "fused"
    assert cost_by_length.cost_by_length(numbers)[0] in verdicts.VERDICTS
    assert cost_by_length.figure(numbers).startswith(b"\x89PNG")


def test_attention_kernel_is_reference_on_the_reference_path() -> None:
    attention = MultiHeadAttention(16, 2, impl="reference")
    assert cost_by_length.attention_kernel(attention, torch.randn(1, 8, 16)) == "reference"


def test_training_step_is_one_adam_step_on_the_mean_squared_error() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    reference = copy.deepcopy(layer)
    inputs, target = torch.randn(2, 5, 4), torch.randn(2, 5, 3)

    class Pair(nn.Module):  # returns (output, state) as the LSTM does
        def __init__(self) -> None:
            super().__init__()
            self.inner = layer

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            return self.inner(x), None

    parallel_training.training_step(Pair(), inputs, target)()
    optimiser = torch.optim.Adam(reference.parameters(), lr=1e-3)
    nn.functional.mse_loss(reference(inputs), target).backward()
    optimiser.step()
    for ours, theirs in zip(layer.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)


def test_parallel_training_ratio_is_the_ratio_of_the_medians() -> None:
    settings = {"device": "cpu", "d_model": 16, "heads": 2, "batch_size": 2,
                "lengths": [4, 8], "repeats": 1, "warmup": 0, "seconds_per_length": 0.0,
                "seed": 0}  # fmt: skip
    numbers = parallel_training.measure(settings)
    for n in ("4", "8"):
        assert numbers["ratio"][n] == numbers["seconds"]["lstm"][n] / numbers["seconds"][
            "transformer"][n]  # fmt: skip
    assert numbers["parameters"]["lstm"] == pytest.approx(numbers["parameters"]["transformer"],
                                                          rel=0.05)  # fmt: skip
    assert parallel_training.parallel_training(numbers)[0] in verdicts.VERDICTS
    assert parallel_training.figure(numbers).startswith(b"\x89PNG")


def test_encoder_parameter_formula_counts_seqlabs_encoder() -> None:
    for d_model, feedforward, layers in ((12, 20, 1), (32, 64, 2)):
        encoder = TransformerEncoder.build(d_model=d_model, num_heads=4, num_layers=layers,
                                           dim_feedforward=feedforward)  # fmt: skip
        counted = sum(p.numel() for p in encoder.parameters())
        assert whole_message.encoder_parameters(d_model, feedforward, layers) == counted


def test_whole_message_models_are_matched_and_read_cls_first() -> None:
    settings = {"device": "cpu", "preset": "cpu-small", "lengths": [4, 8], "repeats": 1,
                "warmup": 0, "seconds_per_length": 0.0, "seed": 0}  # fmt: skip
    numbers = whole_message.measure(settings)
    lstm, transformer = numbers["models"]["lstm"], numbers["models"]["transformer"]
    # BiLSTM 256 a direction reading 128-wide embeddings: 2 x 4 (256 x 128 + 256^2 + 2 x 256).
    assert lstm["core_parameters"] == 2 * 4 * (256 * 128 + 256 * 256 + 2 * 256)
    assert transformer["core_parameters"] == pytest.approx(lstm["core_parameters"], rel=0.05)
    models = whole_message.classifiers("cpu-small", 8)
    model = models["transformer"][0]
    ids, lengths = whole_message._message(model, 8, "cpu")
    assert ids.shape == (1, 9) and lengths.tolist() == [9]  # [CLS] + 8 tokens
    ids, lengths = whole_message._message(models["lstm"][0], 8, "cpu")
    assert ids.shape == (1, 8) and lengths.tolist() == [8]
    assert numbers["crossings"] == crossings([4, 8], [numbers["ratio"]["4"],
                                                       numbers["ratio"]["8"]])  # fmt: skip
    assert whole_message.whole_message_latency(numbers)[0] in verdicts.VERDICTS
    assert whole_message.figure(numbers).startswith(b"\x89PNG")
