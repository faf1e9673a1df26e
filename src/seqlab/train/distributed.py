"""Data-parallel training on several processes with torch.distributed, as ``torchrun`` starts it.

References: PyTorch, "torchrun (Elastic Launch)" (the variables RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT it sets for every process) and ``torch.distributed`` (process
groups; gloo on the CPU, NCCL on CUDA); Goyal et al. 2017, "Accurate, Large Minibatch SGD:
Training ImageNet in 1 Hour" (data parallelism: every worker takes its share of the global
batch, and the workers' gradients are summed into the global batch's).

How the engine trains on W processes ("ranks"), exactly as one process trains on the global
batch:

1. Every rank builds the same global batch (a task's batch is a pure function of its index and
   the seed) and keeps its contiguous share of rows (``share_of_batch``): rows
   ``[r * B / W, (r + 1) * B / W)``, every tensor of the batch cut along its first axis.
2. Each rank backpropagates its loss SUM (``StepLoss.loss_sum``). After the last micro-batch the
   ranks add up, in one all-reduce, the loss sums, item counts and token counts
   (``sum_over_ranks``), and in another every gradient (``all_reduce_gradients``). The engine
   then divides the summed gradients by the GLOBAL item count, so the result is
   ``sum over all items of d loss_i / N``: the single-process gradient of the global batch,
   whatever the loss's unit (rows, target tokens, forecast values) and however many real
   tokens each rank's share holds. No per-rank mean is ever averaged, which would weight a
   rank's tokens by ``1 / its count`` instead of ``1 / N``.
3. Clipping, the optimizer and the schedule then run on identical gradients on every rank, so
   the weights stay identical without being sent again.

Why an all-reduce after accumulation rather than ``DistributedDataParallel``: DDP averages
each backward's gradients over ranks (a fixed ``1 / W``), needs every rank to run forward and
backward on every micro-batch, and hides the model behind a wrapper. Here a share can be EMPTY
(a short last batch of an epoch, or a token-budget batch with fewer pairs than ranks); the
engine's exact normalisation needs the global count anyway; tasks receive the model itself; and
parameters a step leaves unused need no ``find_unused_parameters``. The cost is that the
gradient exchange, one bucketed all-reduce per optimizer step (what DDP's ``no_sync`` on all but
the last micro-batch would also send), does not overlap the last backward pass.

Rank 0 alone writes (checkpoints, log, progress, the model directory) and evaluates; the other
ranks wait for it at the next collective and receive its decisions (``broadcast``), so every
rank stops at the same step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from seqlab.errors import SeqlabError

__all__ = [
    "World",
    "all_reduce_gradients",
    "broadcast",
    "broadcast_module_state",
    "check_batch_size",
    "distributed_training",
    "gather",
    "is_main_process",
    "share_of_batch",
    "step_seed",
    "sum_over_ranks",
    "torchrun_world",
]

T = TypeVar("T")

# Rank 0 evaluates while the others wait at a collective; a long evaluation (beam search over a
# validation set, say) must not trip the collective's timeout (10 minutes for NCCL by default).
_COLLECTIVE_TIMEOUT = datetime.timedelta(hours=2)
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes: ``rank`` of ``size``, and
    ``local_rank``, its index on its own machine (which GPU it uses)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and evaluates."""
        return self.rank == 0

    @classmethod
    def current(cls) -> World:
        """The initialised process group's world, else one process alone."""
        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return cls(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=local_rank)

    def device_for(self, device: torch.device) -> torch.device:
        """The device this rank trains on: its own GPU (``cuda:LOCAL_RANK``) for "cuda"."""
        if device.type == "cuda" and self.distributed:
            return torch.device("cuda", self.local_rank)
        return device


def torchrun_world() -> World:
    """The world ``torchrun`` described in this process's environment; one process alone when
    WORLD_SIZE is unset or 1. A malformed or missing variable is a SeqlabError naming it."""
    if int(_variable("WORLD_SIZE", default="1")) <= 1:
        return World()
    missing = [name for name in _TORCHRUN_VARIABLES if not os.environ.get(name)]
    if missing:
        raise SeqlabError(
            f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but {', '.join(missing)} is not set; "
            "start distributed training with 'torchrun --nproc_per_node N -m seqlab train ...', "
            "which sets every variable"
        )
    world = World(
        rank=int(_variable("RANK")),
        size=int(_variable("WORLD_SIZE")),
        local_rank=int(_variable("LOCAL_RANK")),
    )
    if not 0 <= world.rank < world.size:
        raise SeqlabError(
            f"RANK ({world.rank}) must be in [0, WORLD_SIZE ({world.size})); start the processes "
            "with torchrun"
        )
    return world


def _variable(name: str, *, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or not value.strip().isdigit():
        raise SeqlabError(
            f"environment variable {name} ({value!r}) must be a non-negative integer; start "
            "distributed training with torchrun, which sets it"
        )
    return value


def is_main_process() -> bool:
    """True for rank 0, or when training runs in one process; readable before the process group
    exists (it then reads torchrun's RANK), so a command can keep other ranks quiet at once."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    rank = os.environ.get("RANK", "0").strip()
    return not rank.isdigit() or int(rank) == 0


@contextlib.contextmanager
def distributed_training(device_name: str) -> Iterator[World]:
    """The process group for a training run under ``torchrun``, torn down at the end.

    ``device_name`` is ``train.device`` ("auto", "cpu", "cuda"): NCCL when it resolves to CUDA
    (each rank on ``cuda:LOCAL_RANK``), gloo on the CPU. A group that exists already (a caller
    set it up) is used and left alone; without torchrun's variables this yields one process and
    starts nothing. Ranks other than 0 stay quiet: their warnings are the rank 0's twins.
    """
    if dist.is_available() and dist.is_initialized():
        with _quiet_unless_main(World.current()) as world:
            yield world
        return
    world = torchrun_world()
    if not world.distributed:
        yield world
        return
    if not dist.is_available():
        raise SeqlabError(
            "WORLD_SIZE > 1 but this torch build has no torch.distributed; install a torch "
            "build with distributed support"
        )
    uses_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if uses_cuda:
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group(
        backend="nccl" if uses_cuda else "gloo",
        rank=world.rank,
        world_size=world.size,
        timeout=_COLLECTIVE_TIMEOUT,
    )
    try:
        with _quiet_unless_main(world):
            yield world
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def _quiet_unless_main(world: World) -> Iterator[World]:
    if world.is_main:
        yield world
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield world


def check_batch_size(batch_size: int, world: World) -> None:
    """Every rank takes an equal share of each global batch: ``train.batch_size`` must be a
    multiple of the number of processes."""
    if batch_size % world.size == 0:
        return
    below = batch_size - batch_size % world.size
    above = below + world.size
    suggestion = f"{above}" if below == 0 else f"{below} or {above}"
    raise SeqlabError(
        f"train.batch_size ({batch_size}) is not divisible by the world size ({world.size}): "
        f"each of the {world.size} processes trains on an equal share of every batch; set "
        f"train.batch_size to a multiple of {world.size} (e.g. {suggestion}), or start a number "
        f"of processes that divides {batch_size}"
    )


# ---- each rank's share of a global batch ----------------------------------------------------


def share_of_batch(batch: Any, world: World) -> Any | None:
    """This rank's contiguous share of ``batch``'s rows, or None when the share is empty.

    Rows ``[start, stop)`` with sizes as even as ``torch.tensor_split`` makes them (the first
    ``B mod W`` ranks take one row more): a short last batch of an epoch still trains exactly,
    since the engine divides by the global item count. Every tensor (or array) of one dimension
    or more is cut along its first axis, inside tensors, dataclasses, named and plain tuples,
    lists and dicts: ids, lengths, masks, labels, targets alike. Scalars, 0-d tensors and other
    values (a batch's ``reset`` flag) are kept as they are. A tensor whose first axis is not the
    batch's B rows is a TypeError naming it: the batch axis must come first.
    """
    rows = _batch_rows(batch)
    if rows is None:
        raise TypeError(
            f"cannot split a training batch of type {type(batch).__name__} over "
            f"{world.size} processes: it holds no tensor with a batch axis"
        )
    start = world.rank * (rows // world.size) + min(world.rank, rows % world.size)
    stop = start + rows // world.size + (1 if world.rank < rows % world.size else 0)
    if start == stop:
        return None
    return _rows(batch, start, stop, rows, "batch")


def _batch_rows(batch: Any) -> int | None:
    """B: the first axis of the batch's first tensor of one dimension or more."""
    if isinstance(batch, torch.Tensor | np.ndarray):
        return int(batch.shape[0]) if batch.ndim >= 1 else None
    for value in _children(batch).values():
        rows = _batch_rows(value)
        if rows is not None:
            return rows
    return None


def _children(batch: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch) if f.init}
    if isinstance(batch, Mapping):
        return {str(key): value for key, value in batch.items()}
    if isinstance(batch, tuple | list):
        return {str(index): value for index, value in enumerate(batch)}
    return {}


def _rows(batch: Any, start: int, stop: int, rows: int, path: str) -> Any:
    if isinstance(batch, torch.Tensor | np.ndarray):
        if batch.ndim == 0:
            return batch
        if batch.shape[0] != rows:
            raise TypeError(
                f"{path} has {batch.shape[0]} rows along its first axis but the batch has "
                f"{rows}; every tensor of a training batch must put the batch axis first to be "
                "split over processes"
            )
        return batch[start:stop]
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        parts = {
            name: _rows(value, start, stop, rows, f"{path}.{name}")
            for name, value in _children(batch).items()
        }
        return dataclasses.replace(batch, **parts)
    if isinstance(batch, Mapping):
        return {k: _rows(v, start, stop, rows, f"{path}[{k!r}]") for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        items = [_rows(v, start, stop, rows, f"{path}[{i}]") for i, v in enumerate(batch)]
        if isinstance(batch, list):
            return items
        return type(batch)(*items) if hasattr(batch, "_fields") else tuple(items)
    return batch


# ---- the collectives the engine uses ----------------------------------------------------------


def sum_over_ranks(values: list[float], *, device: torch.device) -> list[float]:
    """Each value summed over every rank (float64, exact for counts below 2**53)."""
    totals = torch.tensor(values, dtype=torch.float64, device=device)  # (n,)
    dist.all_reduce(totals)
    return [float(value) for value in totals.cpu()]


def all_reduce_gradients(parameters: list[nn.Parameter]) -> None:
    """Replace every gradient by its sum over the ranks, in one all-reduce per dtype.

    A parameter that no rank's micro-batches reached keeps ``grad`` None, as it would in one
    process (AdamW then leaves it alone); one reached on some ranks only gets the others'
    contribution as zeros. Which is which travels in the same all-reduce, as 0/1 flags.
    """
    if not parameters:
        return
    device = parameters[0].device
    for dtype in sorted({p.dtype for p in parameters}, key=str):
        group = [p for p in parameters if p.dtype == dtype]
        flags = torch.tensor(
            [p.grad is not None for p in group], dtype=dtype, device=device
        )  # (P,)
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in group]
            + [flags]
        )  # (sum of numels + P,)
        dist.all_reduce(flat)
        reached = flat[flat.numel() - len(group) :] > 0  # (P,)
        offset = 0
        for parameter, was_reached in zip(group, reached.tolist(), strict=True):
            numel = parameter.numel()
            if was_reached:
                parameter.grad = flat[offset : offset + numel].view_as(parameter).clone()
            offset += numel


def broadcast(value: T, world: World) -> T:
    """Rank 0's ``value`` on every rank (pickled); ``value`` itself in one process."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any, world: World) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank (pickled; tensors should be on the
    CPU); ``[value]`` in one process."""
    if not world.distributed:
        return [value]
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def broadcast_module_state(module: nn.Module, world: World) -> None:
    """Copy rank 0's parameters and buffers into every rank's ``module``, in place."""
    if not world.distributed:
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def step_seed(seed: int, rank: int, batch_index: int) -> int:
    """The seed of torch's generators for the micro-batches from ``batch_index`` on, on ``rank``.

    Each rank draws its own dropout masks (one stream for all ranks would drop the same units
    of row i on every rank), and the masks are a pure function of (seed, rank, batch index), so
    a resumed distributed run draws what an uninterrupted one would.
    """
    return int(np.random.SeedSequence([seed, rank, batch_index]).generate_state(1)[0])
