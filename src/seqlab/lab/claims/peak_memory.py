"""Peak memory of one call, on a CPU (where torch keeps no allocation statistics) and on a GPU.

On cuda, torch.cuda.max_memory_allocated after reset_peak_memory_stats gives the high-water
mark of the caching allocator's live bytes; the call's peak is that minus the bytes allocated
before it.

On a CPU torch has no such counter, so ``LiveTensorBytes`` keeps one: a TorchDispatchMode
(torch.utils._python_dispatch) sees every operator that runs while it is active, below autograd,
with its inputs and outputs. Each output whose storage is new (not one of the operator's inputs'
storages, so views, in-place and ``out=`` results count nothing) adds the storage's bytes to a live
count; a weakref finaliser on the storage subtracts them when the storage is freed. The high-water
mark of the live count is the call's peak: what the cuda figure above measures, less kernel
scratch and allocator rounding. What it cannot see: scratch buffers a single kernel allocates
and frees inside itself (the fused attention kernel's per-thread blocks, oneDNN workspaces),
tensors made before the mode started (inputs, parameters: they are the baseline, not the call's
cost), and the allocator's caching and fragmentation. Operators that decompose into others (the
reference attention) are seen op by op, so their intermediates count.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

MEMORY_METHOD = {
    "cpu": (
        "high-water mark of the live bytes of tensor storages created by torch operators during "
        "the call (a TorchDispatchMode; views and in-place results add nothing, kernel-internal "
        "scratch is not seen)"
    ),
    "cuda": "torch.cuda.max_memory_allocated during the call minus the bytes allocated before it",
}


def _storages(values: Any) -> list[torch.UntypedStorage]:
    leaves, _ = tree_flatten(values)
    return [leaf.untyped_storage() for leaf in leaves if isinstance(leaf, torch.Tensor)]


class LiveTensorBytes(TorchDispatchMode):
    """While active: ``live``, the bytes of storages created by operators and not yet freed, and
    ``peak``, the most that were live at once (both in bytes, starting from zero)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._finalisers: dict[int, weakref.finalize[Any, Any]] = {}

    def _release(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._finalisers.pop(key, None)

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        outputs = func(*args, **kwargs)
        # Storages the operator was given: an output on one of them is a view or an in-place
        # (or out=) result, which allocates nothing new.
        inputs = {storage.data_ptr() for storage in _storages((args, kwargs))}
        for storage in _storages(outputs):
            key, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or key in inputs or key in self._finalisers:
                continue
            self.live += nbytes
            # torch keeps one Python object per live storage, so it dies with the storage.
            self._finalisers[key] = weakref.finalize(storage, self._release, key, nbytes)
        self.peak = max(self.peak, self.live)
        return outputs

    def __exit__(self, *exc: object) -> None:
        # Storages still alive (the call's results) stop reporting to this finished count.
        for finaliser in list(self._finalisers.values()):
            finaliser.detach()
        self._finalisers.clear()
        super().__exit__(*exc)


def peak_bytes(call: Callable[[], object], *, device: str) -> int:
    """Peak bytes allocated while ``call()`` runs, its result included (MEMORY_METHOD[device])."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        result = call()
        torch.cuda.synchronize()
        del result
        return int(torch.cuda.max_memory_allocated() - before)
    with LiveTensorBytes() as tracker:
        result = call()
        del result
    return tracker.peak


def available_bytes(device: str) -> int:
    """Memory free for a new allocation now: the GPU's free bytes, or the host's free pages."""
    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    import os

    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not Linux: assume room for a few GiB
        return 4 * 2**30
