"""StepLoss validation, move_to, detach_state and the progress reporters."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import NamedTuple

import pytest
import torch

from seqlab.train import StepInfo, StepLoss, detach_state, make_progress, move_to
from seqlab.train.progress import PlainProgress, QuietProgress, RichProgress


def test_step_loss_rejects_a_mean_shaped_vector_and_bad_counts() -> None:
    with pytest.raises(ValueError, match=r"scalar tensor .* shape \(3,\).*\.sum\(\)"):
        StepLoss(loss_sum=torch.ones(3), count=3, tokens=3)
    with pytest.raises(ValueError, match=r"StepLoss.count \(-1\) must be a non-negative int"):
        StepLoss(loss_sum=torch.tensor(1.0), count=-1, tokens=0)
    with pytest.raises(ValueError, match=r"StepLoss.tokens \(tensor\(3\)\)"):
        StepLoss(loss_sum=torch.tensor(1.0), count=1, tokens=torch.tensor(3))  # type: ignore[arg-type]


class Pair(NamedTuple):
    first: torch.Tensor
    second: int


@dataclass(frozen=True)
class Batch:
    tokens: torch.Tensor
    extras: dict
    name: str


def test_move_to_keeps_containers_and_moves_every_tensor() -> None:
    batch = Batch(
        tokens=torch.ones(2), extras={"pair": Pair(torch.zeros(1), 3), "list": [torch.ones(1)]},
        name="b",
    )  # fmt: skip
    moved = move_to(batch, torch.device("meta"))
    assert isinstance(moved, Batch) and moved.name == "b"
    assert moved.tokens.device.type == "meta"
    assert isinstance(moved.extras["pair"], Pair) and moved.extras["pair"].second == 3
    assert moved.extras["pair"].first.device.type == "meta"
    assert moved.extras["list"][0].device.type == "meta"


def test_detach_state_cuts_graphs_in_nested_states() -> None:
    weight = torch.ones(2, requires_grad=True)
    h, c = weight * 2, weight * 3
    detached = detach_state((h, [c], None))
    assert isinstance(detached, tuple) and detached[2] is None
    for tensor in (detached[0], detached[1][0]):
        assert tensor.grad_fn is None and not tensor.requires_grad
    torch.testing.assert_close(detached[0], h.detach())
    with pytest.raises(TypeError, match="cannot carry a recurrent state of type set"):
        detach_state({1})


INFO = StepInfo(
    step=5, total_steps=10, loss=0.25, lr=1e-3, grad_norm=1.5, tokens_per_second=1234.0,
    elapsed_seconds=65.0, eta_seconds=65.0,
)  # fmt: skip


def test_plain_progress_prints_one_line_per_log_and_note() -> None:
    stream = io.StringIO()
    reporter = make_progress("plain", stream=stream)
    assert isinstance(reporter, PlainProgress)
    reporter.start(total_steps=10, initial_step=0)
    reporter.step(INFO)  # silent: only logged steps print
    reporter.log(INFO)
    reporter.note("eval step 5 [val] loss 0.3")
    reporter.close()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "training to step 10",
        "step  5/10 | loss 0.2500 | lr 1.000e-03 | grad_norm 1.500 | 1,234 tok/s "
        "| elapsed 01:05 | eta 01:05",
        "eval step 5 [val] loss 0.3",
    ]


def test_auto_picks_plain_off_a_terminal_and_quiet_prints_nothing() -> None:
    assert isinstance(make_progress("auto", stream=io.StringIO()), PlainProgress)
    assert isinstance(make_progress("quiet"), QuietProgress)
    with pytest.raises(ValueError, match="progress \\('loud'\\) must be"):
        make_progress("loud")  # type: ignore[arg-type]


def test_rich_progress_draws_step_loss_and_notes() -> None:
    stream = io.StringIO()
    reporter = RichProgress(stream=stream)
    reporter._console.force_terminal = False  # plain rendering keeps the text searchable
    reporter.start(total_steps=10, initial_step=0)
    reporter.step(INFO)
    reporter.note("eval step 5 [val] loss 0.3")
    reporter.close()
    text = stream.getvalue()
    assert "5/10" in text and "loss 0.2500" in text and "1,234 tok/s" in text
    assert "eval step 5 [val] loss 0.3" in text
