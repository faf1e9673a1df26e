"""What the training engine needs from a task: the TrainableTask protocol and StepLoss.

References: DESIGN.md, convention 7 (losses live in tasks with an explicit reduction) and
"A task is a small object the engine and the commands talk to". Truncated back-propagation through
time: Williams & Peng 1990, "An efficient gradient-based algorithm for on-line training of
recurrent network trajectories" (carry the hidden state forward, cut its graph between segments).

The loss is returned as a SUM over items together with the number of items it covers, never as a
mean: the engine adds the sums of all accumulated micro-batches and divides the gradients once by
the total count, so accumulating k micro-batches equals one batch k times as large exactly, even
when micro-batches hold different numbers of tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

__all__ = ["StepLoss", "TrainableTask", "detach_state", "move_to"]


@dataclass(frozen=True)
class StepLoss:
    """One micro-batch's loss.

    loss_sum: scalar tensor, the loss SUMMED over the items of the micro-batch (attached to the
        graph; the engine calls backward on it).
    count: how many items (examples, target tokens, forecast values) ``loss_sum`` covers.
    tokens: how many tokens (or time steps) the micro-batch processed, for throughput only.
    state: the recurrent state to carry into the next micro-batch (stateful tasks), else None.
    """

    loss_sum: torch.Tensor
    count: int
    tokens: int
    state: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.loss_sum, torch.Tensor) or self.loss_sum.dim() != 0:
            shape = tuple(self.loss_sum.shape) if isinstance(self.loss_sum, torch.Tensor) else None
            raise ValueError(
                f"StepLoss.loss_sum must be a scalar tensor (got {type(self.loss_sum).__name__} "
                f"of shape {shape}); reduce the per-item losses with .sum()"
            )
        for name in ("count", "tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"StepLoss.{name} ({value!r}) must be a non-negative int; "
                    "use int(mask.sum()) for a tensor count"
                )


@runtime_checkable
class TrainableTask(Protocol):
    """The four things ``seqlab.train.fit`` asks of a task.

    train_batch(index): micro-batch number ``index`` (0, 1, 2, ...), deterministic and random
        access: the task derives it from its own seed and ``index`` (e.g. a permutation per
        epoch), so a resumed run simply continues at the next index. It may return tensors,
        dicts, tuples, lists or dataclasses of them on CPU; the engine moves them to the device.
    loss(model, batch, state): the StepLoss of one micro-batch, computed in training mode.
    evaluate(model, split): named metrics of a split ("val" during training). The engine calls
        it under torch.no_grad() with model.eval(); the task moves its own batches to the
        model's device. Generators are restored afterwards, so evaluation never changes training.
    stateful: True for truncated-BPTT streams. The engine then passes the previous micro-batch's
        StepLoss.state (detached from its graph) as ``state``, None at the start, and saves it
        in checkpoints; False means ``state`` is always None.
    """

    @property
    def stateful(self) -> bool: ...

    def train_batch(self, index: int) -> Any: ...

    def loss(self, model: nn.Module, batch: Any, state: Any = None) -> StepLoss: ...

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]: ...


def detach_state(state: Any) -> Any:
    """Cut the graph of a carried recurrent state: tensors, (nested) tuples, lists, dicts, None.

    Truncated BPTT: the next segment starts from the state's values but gradients stop there, so
    memory and compute stay bounded by the segment length.
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple):
        items = [detach_state(item) for item in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if isinstance(state, list):
        return [detach_state(item) for item in state]
    if isinstance(state, Mapping):
        return {key: detach_state(item) for key, item in state.items()}
    raise TypeError(
        f"cannot carry a recurrent state of type {type(state).__name__}; return a tensor, "
        "a tuple/list/dict of tensors, or None as StepLoss.state"
    )


def move_to(batch: Any, device: torch.device | str) -> Any:
    """Move every tensor in ``batch`` to ``device``, keeping the container types.

    Handles tensors, dicts, tuples (named too), lists, dataclasses and objects with their own
    ``.to(device)`` (e.g. PackedSequence, which must keep ``batch_sizes`` on the CPU); anything
    else (ints, strings, None) is returned unchanged.
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        moved = {
            field.name: move_to(getattr(batch, field.name), device)
            for field in dataclasses.fields(batch)
            if field.init
        }
        return dataclasses.replace(batch, **moved)
    if isinstance(batch, Mapping):
        return {key: move_to(value, device) for key, value in batch.items()}
    if callable(getattr(batch, "to", None)) and not isinstance(batch, str):
        return batch.to(device)
    if isinstance(batch, tuple):
        items = [move_to(item, device) for item in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else tuple(items)
    if isinstance(batch, list):
        return [move_to(item, device) for item in batch]
    return batch
