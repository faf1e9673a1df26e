"""seqlab claims 6, 9 and 13: the verdict rules on synthetic numbers, and the measurements on
tiny settings against references (autograd on a hand-built layer, the clipping threshold,
torch.nn's parameter counts)."""

from __future__ import annotations

import math
import time

import pytest
import torch

import seqlab.nn
from seqlab.lab.claims import CLAIMS, lstm_vanishing, verdicts
from seqlab.lab.claims import gradient_clipping as clipping
from seqlab.lab.claims import short_sequences as short


def test_the_registry_still_holds_seventeen_claims_in_order_with_these_measured() -> None:
    assert [claim.number for claim in CLAIMS] == list(range(1, 18))
    measured = {claim.id: claim.number for claim in CLAIMS if claim.measure is not None}
    assert measured["lstm-still-vanishes"] == 13
    assert measured["gradient-clipping"] == 9
    assert measured["short-sequence-overhead"] == 6


# --- claim 13: LSTMs mitigate but do not remove vanishing gradients -----------------------------


def _vanishing(lstm_long: float, rnn_long: float, long: int = 1000) -> dict:
    return {
        "short_distance": 10,
        "long_distance": long,
        "claim_distance": 1000,
        "lstm_init": "forget-bias-1",
        "gradient": {
            "lstm": {"short": 1e-3, "long": lstm_long},
            "rnn": {"short": 1e-4, "long": rnn_long},
        },
    }


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (_vanishing(1e-20, 1e-60), verdicts.HOLDS),
        (_vanishing(1e-20, 0.0), verdicts.HOLDS),
        (_vanishing(1e-20, 1e-60, long=200), verdicts.HOLDS_WITH_CAVEAT),
        (_vanishing(1e-20, 1e-21), verdicts.DOES_NOT_HOLD),  # no mitigation
        (_vanishing(5e-4, 1e-60), verdicts.DOES_NOT_HOLD),  # did not vanish
    ],
)
def test_lstm_vanishing_rule(numbers: dict, expected: str) -> None:
    verdict, reason = verdicts.lstm_still_vanishes(numbers)
    assert verdict == expected
    assert "forget-bias-1" in reason


def test_gradient_by_distance_equals_the_hand_derivative_of_a_linear_chain() -> None:
    # One ReLU unit with positive inputs and weights stays linear: h_T = sum_t u w^(T-t) x_t, so
    # with readout r and L the mean over the batch of 3, dL/dx_{T-d} = r u w^d / 3 exactly.
    layer = seqlab.nn.RNN(1, 1, nonlinearity="relu").double()
    u, w, r = 0.7, 0.9, 1.5
    with torch.no_grad():
        layer.weight_ih_l0.fill_(u)
        layer.weight_hh_l0.fill_(w)
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    inputs = torch.rand(3, 6, 1, dtype=torch.float64) + 0.1  # (B, T, F)
    norms = lstm_vanishing.gradient_norms_by_distance(
        layer, inputs, torch.tensor([r], dtype=torch.float64)
    )
    expected = torch.tensor([r * u * w**d / 3 for d in range(6)], dtype=torch.float64)
    torch.testing.assert_close(norms, expected)


def test_gradient_by_distance_matches_autograd_through_torch_lstm() -> None:
    torch.manual_seed(0)
    layer = seqlab.nn.LSTM(3, 4).double()
    reference = torch.nn.LSTM(3, 4, batch_first=True).double()
    reference.load_state_dict(layer.state_dict())
    inputs = torch.randn(2, 7, 3, dtype=torch.float64)  # (B, T, F)
    readout = torch.randn(4, dtype=torch.float64)
    x = inputs.clone().requires_grad_(True)
    loss = (reference(x)[0][:, -1] @ readout).mean()
    (gradient,) = torch.autograd.grad(loss, x)  # (B, T, F)
    expected = gradient.norm(dim=-1).mean(dim=0).flip(0)  # (T,)
    norms = lstm_vanishing.gradient_norms_by_distance(layer, inputs, readout)
    torch.testing.assert_close(norms, expected)


def test_lstm_vanishing_measure_at_tiny_settings() -> None:
    settings = {**lstm_vanishing.CLAIM.quick, "long_distance": 40, "seeds": 1, "device": "cpu"}
    numbers = lstm_vanishing.measure(settings)
    for family in ("rnn", "lstm"):
        gradient = numbers["gradient"][family]
        assert gradient["long"] < gradient["short"]
        assert numbers["curve"][family]["10"] == gradient["short"]
        assert numbers["curve"][family]["40"] == gradient["long"]
    assert lstm_vanishing.figure(numbers).startswith(b"\x89PNG")


# --- claim 9: gradient clipping prevents exploding gradients -------------------------------------


def _run(initial: float | None, final: float | None, non_finite: int = 0) -> dict:
    return {"initial_loss": initial, "final_loss": final, "non_finite_steps": non_finite,
            "steps": 100, "max_gradient_norm": 10.0}  # fmt: skip


def _clipping(unclipped: dict, clipped: dict) -> dict:
    return {"unclipped": unclipped, "clipped": clipped, "learning_rate": 0.01,
            "initialisation": "identity W_hh, zero biases"}  # fmt: skip


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (_clipping(_run(0.5, None, 90), _run(0.5, 0.2)), verdicts.HOLDS),
        (_clipping(_run(0.5, 3.0), _run(0.5, 0.2)), verdicts.HOLDS),
        (_clipping(_run(0.5, None, 90), _run(0.5, 0.6)), verdicts.HOLDS_WITH_CAVEAT),
        (_clipping(_run(0.5, None, 90), _run(0.5, None, 3)), verdicts.DOES_NOT_HOLD),
        (_clipping(_run(0.5, 0.2), _run(0.5, 0.2)), verdicts.DOES_NOT_HOLD),
    ],
)
def test_gradient_clipping_rule(numbers: dict, expected: str) -> None:
    assert verdicts.gradient_clipping(numbers)[0] == expected


def test_an_unexploded_unclipped_run_names_the_initialisation() -> None:
    verdict, reason = verdicts.gradient_clipping(_clipping(_run(0.5, 0.2), _run(0.5, 0.2)))
    assert verdict == verdicts.DOES_NOT_HOLD
    assert "did not explode either" in reason and "identity W_hh" in reason


TINY_CLIPPING = {**clipping.CLAIM.quick, "steps": 20, "distance": 20, "seeds": 1, "device": "cpu"}


def test_clipped_gradient_norms_never_exceed_the_clip() -> None:
    run = clipping.train(TINY_CLIPPING, clip=0.5, seed=0)
    assert run["non_finite_steps"] == 0
    for before, after in zip(run["gradient_norm"], run["clipped_norm"], strict=True):
        assert after <= 0.5 * (1 + 1e-5)
        # Below the threshold, clipping leaves the gradient alone.
        assert after == pytest.approx(min(before, 0.5), rel=1e-5)
    assert max(run["gradient_norm"]) > 0.5  # the test above had something to clip


def test_unclipped_run_records_the_gradient_torch_computes_on_the_first_batch() -> None:
    run = clipping.train(TINY_CLIPPING, clip=None, seed=0)
    torch.manual_seed(0)
    model = clipping.AddingRegressor(TINY_CLIPPING["hidden_size"])
    # The IRNN initialisation: identity recurrent weights, zero biases.
    torch.testing.assert_close(model.rnn.weight_hh_l0, torch.eye(TINY_CLIPPING["hidden_size"]))
    batch = clipping.adding_batch(batch_size=TINY_CLIPPING["batch_size"], distance=20, seed=0,
                                  index=0)  # fmt: skip
    loss = torch.nn.functional.mse_loss(model(batch.inputs), batch.targets)
    loss.backward()
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert run["loss"][0] == pytest.approx(loss.item(), rel=1e-6)
    assert run["gradient_norm"][0] == pytest.approx(norm.item(), rel=1e-5)
    assert run["clipped_norm"][0] == run["gradient_norm"][0]


def test_clipping_measure_and_figure_at_tiny_settings() -> None:
    numbers = clipping.measure(TINY_CLIPPING)
    assert numbers["clipped"]["non_finite_steps"] == 0
    assert len(numbers["curves"]["clipped"]["loss"]) == 20
    values = numbers["curves"]["unclipped"]["gradient_norm"]
    assert all(value is None or math.isfinite(value) for value in values)
    assert clipping.figure(numbers).startswith(b"\x89PNG")


# --- claim 6: Transformers carry more overhead than RNNs on 2 to 3 tokens -------------------------


def _short(ratio_2: float, ratio_3: float) -> dict:
    return {"short_lengths": [2, 3], "ratio": {"2": ratio_2, "3": ratio_3, "64": 0.5},
            "hardware": "Example CPU, 1 torch thread(s)"}  # fmt: skip


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (_short(1.5, 1.2), verdicts.HOLDS_WITH_CAVEAT),
        (_short(1.5, 1.05), verdicts.DOES_NOT_HOLD),
        (_short(0.7, 0.8), verdicts.DOES_NOT_HOLD),
    ],
)
def test_short_sequence_rule_names_the_hardware(numbers: dict, expected: str) -> None:
    verdict, reason = verdicts.short_sequence_overhead(numbers)
    assert verdict == expected
    assert "Example CPU" in reason


def test_matched_layers_have_torch_nn_counts_within_a_few_percent() -> None:
    lstm, transformer = short.matched_layers(32, 4)
    reference = torch.nn.TransformerEncoderLayer(32, 4, dim_feedforward=128, batch_first=True)
    transformer_count = sum(p.numel() for p in transformer.parameters())
    assert transformer_count == sum(p.numel() for p in reference.parameters())
    torch_lstm = torch.nn.LSTM(32, lstm.hidden_size)
    lstm_count = sum(p.numel() for p in lstm.parameters())
    assert lstm_count == sum(p.numel() for p in torch_lstm.parameters())
    assert abs(lstm_count - transformer_count) / transformer_count < 0.03
    # The closest hidden size: one more or one fewer is further from the Transformer's count.
    for other in (lstm.hidden_size - 1, lstm.hidden_size + 1):
        count = sum(p.numel() for p in torch.nn.LSTM(32, other).parameters())
        assert abs(count - transformer_count) >= abs(lstm_count - transformer_count)


def test_median_seconds_runs_warmup_plus_repeats_and_takes_the_median() -> None:
    calls = []
    seconds = short.median_seconds(lambda: calls.append(time.sleep(0.002)), repeats=5, warmup=2,
                                   device="cpu")  # fmt: skip
    assert len(calls) == 7
    assert 0.002 <= seconds < 0.05


def test_short_sequence_measure_at_tiny_settings() -> None:
    settings = {**short.CLAIM.quick, "d_model": 16, "heads": 2, "lengths": [2, 3, 8],
                "repeats": 5, "warmup": 1, "device": "cpu"}  # fmt: skip
    numbers = short.measure(settings)
    for length in ("2", "3", "8"):
        seconds = numbers["seconds"]
        assert numbers["ratio"][length] == seconds["transformer"][length] / seconds["lstm"][length]
    assert numbers["hardware"]
    assert short.figure(numbers).startswith(b"\x89PNG")
