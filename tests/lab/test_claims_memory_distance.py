"""seqlab claims 1, 2 and 3: every verdict each rule can give on synthetic numbers, and the
shared recall measurement on tiny settings against references (compare.match_model_size, the
gradient profile of a freshly built model, compare.verdict's words)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from seqlab.errors import SeqlabError
from seqlab.lab.claims import memory_distance as claims
from seqlab.lab.claims import memory_distance_measurement as measurement
from seqlab.lab.claims import run_claims, verdicts
from seqlab.lab.compare import SOLVED, match_model_size, memory_task
from seqlab.lab.gradients import input_gradient_norms

SOLVED_RUN = (1.0, "solved", 100)
AT_CHANCE = (0.12, "at chance", 400)
FALLING = (0.13, "at chance, loss still falling", 400)


def _runs(by_distance: dict[int, tuple[float, str, int]]) -> dict[str, dict[str, Any]]:
    return {
        str(d): {"accuracy": accuracy, "verdict": words, "solved": words == "solved",
                 "steps": steps, "step_budget": 400, "stop_reason": "target", "seconds": 1.0}
        for d, (accuracy, words, steps) in by_distance.items()
    }  # fmt: skip


def _numbers(rnn_gradient: float = 1e-6, **families: dict[int, tuple[float, str, int]]) -> dict:
    """Numbers as the measurement gives them; the gradient profiles at d = 30 fall
    geometrically, the RNN's to ``rnn_gradient`` at 20 steps back and the others to 0.1."""
    default = {d: SOLVED_RUN for d in (10, 20, 50)}
    runs = {f: families.get(f, default) for f in ("rnn", "lstm", "gru", "transformer")}

    def profile(at_twenty: float) -> list[float]:
        return [at_twenty ** (d / 20) for d in range(30)]

    return {
        "families": list(runs),
        "runs": {family: _runs(by_distance) for family, by_distance in runs.items()},
        "chance": 0.125,
        "solved_at": 0.95,
        "parameters": dict.fromkeys(runs, 3000),
        "parameter_budget": 3000,
        "gradient_distance": 30,
        "gradients": {
            f: {"initial": profile(rnn_gradient if f == "rnn" else 0.1), "trained": profile(0.5)}
            for f in runs
        },  # fmt: skip
        "init": "chrono",
        "recurrent_init": "orthogonal",
        "steps": 400,
        "step_limits": {"transformer": {"1000": 300}},
        "batch_size": 64,
        "seed": 0,
    }


RNN_FAILS = {10: SOLVED_RUN, 20: AT_CHANCE, 50: AT_CHANCE}


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (_numbers(rnn=RNN_FAILS), verdicts.HOLDS),
        (_numbers(rnn={10: SOLVED_RUN}), verdicts.NOT_YET_MEASURABLE),
        (_numbers(rnn={10: AT_CHANCE, 20: AT_CHANCE}), verdicts.DOES_NOT_HOLD),
        (_numbers(rnn={10: SOLVED_RUN, 20: AT_CHANCE, 50: SOLVED_RUN}), verdicts.DOES_NOT_HOLD),
        # The others fail wherever the RNN fails: no evidence that the RNN is the one limited.
        (_numbers(rnn=RNN_FAILS, lstm=RNN_FAILS), verdicts.DOES_NOT_HOLD),
        (
            _numbers(rnn=RNN_FAILS, gru={10: SOLVED_RUN, 20: SOLVED_RUN, 50: AT_CHANCE}),
            verdicts.HOLDS_WITH_CAVEAT,
        ),  # fmt: skip
        (_numbers(rnn={10: SOLVED_RUN, 20: FALLING, 50: AT_CHANCE}), verdicts.HOLDS_WITH_CAVEAT),
        (
            _numbers(rnn={10: SOLVED_RUN, 20: SOLVED_RUN, 50: AT_CHANCE}),
            verdicts.HOLDS_WITH_CAVEAT,
        ),  # fmt: skip
        (_numbers(rnn_gradient=0.5, rnn=RNN_FAILS), verdicts.HOLDS_WITH_CAVEAT),
    ],
)
def test_vanishing_gradients_rule(numbers: dict, expected: str) -> None:
    verdict, reason = claims.vanishing_gradients_rnn(numbers)
    assert verdict == expected
    if expected in (verdicts.HOLDS, verdicts.HOLDS_WITH_CAVEAT):
        assert "orthogonal recurrent weights, chrono gate biases, step budget 400" in reason


def test_vanishing_gradients_reason_gives_the_gradient_ratio() -> None:
    # 20 steps back the RNN's profile is 1e-6 of the answer step's, the gated ones' 0.1.
    _, reason = claims.vanishing_gradients_rnn(_numbers(rnn=RNN_FAILS))
    assert "vanilla RNN 1.0e-06, LSTM 1.0e-01, GRU 1.0e-01" in reason


HUNDREDS = {d: SOLVED_RUN for d in (10, 100, 200, 500)}


def _gated(lstm_far: tuple[float, str, int] | None, lstm: dict | None = None) -> dict:
    lstm = dict(HUNDREDS if lstm is None else lstm)
    if lstm_far is not None:
        lstm[1000] = lstm_far
    return _numbers(lstm=lstm, gru=HUNDREDS)


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        (_gated((0.12, "at chance", 300)), verdicts.HOLDS),
        (_gated((0.97, "solved", 300)), verdicts.HOLDS),  # 3 times the 100 steps at d = 500
        (_gated((0.99, "solved", 150)), verdicts.DOES_NOT_HOLD),  # no struggle: 1.5 times
        (_gated((0.3, "partly learned, still improving", 300)), verdicts.HOLDS_WITH_CAVEAT),
        (_gated(None), verdicts.HOLDS_WITH_CAVEAT),  # not trained near 1,000
        (_numbers(), verdicts.HOLDS_WITH_CAVEAT),  # the quick run: longest distance 50
        (_numbers(lstm={10: SOLVED_RUN, 50: AT_CHANCE}), verdicts.DOES_NOT_HOLD),
        (_gated(None, {10: SOLVED_RUN, 100: SOLVED_RUN, 200: AT_CHANCE}), verdicts.DOES_NOT_HOLD),
    ],
)
def test_gated_reach_rule(numbers: dict, expected: str) -> None:
    verdict, reason = claims.gated_rnn_reach(numbers)
    assert verdict == expected
    assert "chrono gate biases" in reason


def test_gated_reach_quick_run_names_its_longest_distance() -> None:
    assert "longest distance is 50" in claims.gated_rnn_reach(_numbers())[1]


@pytest.mark.parametrize(
    ("transformer", "expected", "named"),
    [
        ({10: SOLVED_RUN, 100: SOLVED_RUN, 1000: SOLVED_RUN}, verdicts.HOLDS, "d = 1,000"),
        ({10: SOLVED_RUN, 100: SOLVED_RUN}, verdicts.HOLDS_WITH_CAVEAT, "d = 100, short"),
        ({10: SOLVED_RUN, 1000: FALLING}, verdicts.DOES_NOT_HOLD, "still falling at d = [1000]"),
    ],
)
def test_transformer_any_distance_rule(transformer: dict, expected: str, named: str) -> None:
    verdict, reason = claims.transformer_any_distance(_numbers(transformer=transformer))
    assert verdict == expected
    assert named in reason
    assert "step budget 400 (Transformer 300 at d = 1000), batch 64" in reason


def test_the_three_claims_share_their_settings() -> None:
    assert [(claim.number, claim.id) for claim in claims.CLAIMS] == [
        (1, "vanishing-gradients-rnn"),
        (2, "gated-rnn-reach"),
        (3, "transformer-any-distance"),
    ]
    assert all(c.quick == claims.QUICK and c.full == claims.FULL for c in claims.CLAIMS)
    assert max(d for ds in claims.FULL["distances"].values() for d in ds) == 1000


# --- the measurement on tiny settings ----------------------------------------------------------

TINY = {
    "distances": {"rnn": [4], "lstm": [4, 6], "gru": [4], "transformer": [4]},
    "gradient_distance": 4,
    "steps": 10,
    "step_limits": {"lstm": {"6": 12}},
    "batch_size": 8,
    "eval_every": 5,
    "eval_examples": 32,
    "parameter_budget": 3000,
    "init": "chrono",
    "recurrent_init": "orthogonal",
    "seed": 0,
    "jobs": 1,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    return measurement.shared_measurement(TINY)  # about 2 s: five short runs in this process


def test_every_family_runs_its_own_distances_with_its_own_budget(tiny: dict) -> None:
    assert {f: [int(d) for d in runs] for f, runs in tiny["runs"].items()} == TINY["distances"]
    assert tiny["runs"]["lstm"]["6"]["step_budget"] == 12
    assert tiny["runs"]["gru"]["4"]["step_budget"] == 10
    for runs in tiny["runs"].values():
        for run in runs.values():
            assert 1 <= run["steps"] <= run["step_budget"]
            assert run["solved"] == (run["accuracy"] >= SOLVED["recall"])
    assert tiny["chance"] == pytest.approx(1 / 8)


def test_sizes_and_initial_gradients_match_a_fresh_model(tiny: dict) -> None:
    base = measurement.compare_settings(TINY)
    for family in TINY["distances"]:
        model, parameters = match_model_size(base, family)
        assert tiny["parameters"][family] == parameters
        # The profile at initialisation is the one of the model the seed builds, by hand here.
        task = memory_task(base, family=family, kind="recall", distance=4, model=model)
        torch.manual_seed(TINY["seed"])
        expected = input_gradient_norms(task.build_model(), task)
        assert tiny["gradients"][family]["initial"] == pytest.approx(expected, rel=1e-6)
        assert len(tiny["gradients"][family]["trained"]) == 4


def test_the_measurement_runs_once_per_settings(tiny: dict, monkeypatch) -> None:
    monkeypatch.setattr(measurement, "measure_memory_distance", pytest.fail)
    again = claims.measure(dict(reversed(TINY.items())))  # same settings, other key order
    assert again == tiny and again is not tiny


def test_seqlab_claims_measures_once_for_the_three_claims(tiny: dict, monkeypatch) -> None:
    monkeypatch.setattr(measurement, "measure_memory_distance", pytest.fail)
    overrides = {claim.id: TINY for claim in claims.CLAIMS}
    results = run_claims(claims.CLAIMS, quick=True, overrides=overrides)
    assert [result.claim.number for result in results] == [1, 2, 3]
    for result in results:
        assert result.numbers == tiny
        assert result.figure is not None and result.figure[:4] == b"\x89PNG"
        assert result.verdict in verdicts.VERDICTS


def test_a_gradient_distance_some_family_skips_is_a_one_line_error() -> None:
    with pytest.raises(SeqlabError, match="gradient_distance 6 is not among the rnn distances"):
        measurement.measure_memory_distance({**TINY, "gradient_distance": 6})
    with pytest.raises(SeqlabError, match=r"claims settings: steps \(5\) must be at least 10"):
        measurement.measure_memory_distance({**TINY, "steps": 5})
