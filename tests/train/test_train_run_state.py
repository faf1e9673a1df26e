"""The run state's JSON form: strict JSON, exact round trip, non-finite values kept as text."""

from __future__ import annotations

import json
import math

import pytest

from seqlab.train.run_state import EvalRecord, RunState, float_from_json, float_to_json

NAN, INF = float("nan"), float("inf")


def same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_float_to_json_keeps_finite_values_and_writes_the_rest_as_text() -> None:
    assert [float_to_json(value) for value in (0.1, -3.0, None, NAN, INF, -INF)] == [
        0.1, -3.0, None, "nan", "inf", "-inf"
    ]  # fmt: skip
    assert [float_from_json(text) for text in ("inf", "-inf", 0.1)] == [INF, -INF, 0.1]
    assert math.isnan(float_from_json("nan"))


@pytest.mark.parametrize("best_metric", [0.25, None, INF, -INF, NAN])
def test_round_trip_through_strict_json_restores_every_field(best_metric: float | None) -> None:
    state = RunState(
        monitor="loss",
        mode="min",
        step=7,
        next_batch_index=15,
        best_metric=best_metric,
        best_step=4,
        evals_without_improvement=1,
        last_eval_step=6,
        elapsed_seconds=1.5,
        last_train_loss=INF,
        history=[
            EvalRecord(step=2, split="val", metrics={"loss": NAN, "accuracy": -INF}),
            EvalRecord(step=4, split="val", metrics={"loss": 0.25, "accuracy": 0.1}),
        ],
    )
    text = json.dumps(state.to_json(), allow_nan=False)  # raises on a bare NaN or infinity
    back = RunState.from_json(json.loads(text))
    assert same_float(back.best_metric, best_metric)
    assert back.last_train_loss == INF
    assert (back.monitor, back.mode, back.step, back.next_batch_index) == ("loss", "min", 7, 15)
    assert (back.best_step, back.evals_without_improvement, back.last_eval_step) == (4, 1, 6)
    assert back.elapsed_seconds == 1.5
    assert [(record.step, record.split) for record in back.history] == [(2, "val"), (4, "val")]
    assert math.isnan(back.history[0].metrics["loss"])
    assert back.history[0].metrics["accuracy"] == -INF
    assert back.history[1].metrics == {"loss": 0.25, "accuracy": 0.1}


def test_reads_the_progress_an_earlier_checkpoint_wrote() -> None:
    # trainer.json's "progress" as seqlab 0.1.0 wrote it: reading and writing it again is exact.
    saved = {
        "monitor": "accuracy",
        "mode": "max",
        "step": 30,
        "next_batch_index": 30,
        "best_metric": 0.53125,
        "best_step": 20,
        "evals_without_improvement": 1,
        "last_eval_step": 30,
        "elapsed_seconds": 2.75,
        "last_train_loss": 1.9375,
        "history": [
            {"step": 10, "split": "val", "metrics": {"loss": "nan", "accuracy": 0.125}},
            {"step": 20, "split": "val", "metrics": {"loss": 2.0, "accuracy": 0.53125}},
            {"step": 30, "split": "val", "metrics": {"loss": 2.5, "accuracy": 0.5}},
        ],
    }
    state = RunState.from_json(saved)
    assert state.best_metric == 0.53125 and state.history[2].metrics == {
        "loss": 2.5,
        "accuracy": 0.5,
    }
    assert state.to_json() == saved
