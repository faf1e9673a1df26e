"""Seeding, and capturing/restoring every random number generator a training run draws from.

References: PyTorch "Reproducibility" notes (torch.manual_seed seeds the CPU and every CUDA
generator); Python's ``random`` (Mersenne Twister, ``getstate``/``setstate``); NumPy's legacy
global generator (``np.random.get_state``/``set_state``).

A resumed run reproduces an uninterrupted one only if all four generators continue where they
stopped, so a checkpoint stores all of them (see ``seqlab.train.checkpoint``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["RngState", "capture_rng_state", "restore_rng_state", "seed_everything"]

_MAX_SEED = 2**32 - 1  # numpy's legacy seed range, the narrowest of the three


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all CUDA devices)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed ({seed!r}) must be an int in [0, {_MAX_SEED}]")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class RngState:
    """A snapshot of every generator.

    ``python`` and ``numpy`` are JSON-ready (lists, ints, floats); ``torch_cpu`` and
    ``torch_cuda`` (one per visible device, empty without CUDA) are uint8 tensors.
    """

    torch_cpu: torch.Tensor
    torch_cuda: tuple[torch.Tensor, ...]
    python: list[Any]
    numpy: dict[str, Any]


def capture_rng_state() -> RngState:
    """Snapshot torch (CPU and CUDA), Python ``random`` and NumPy's global generator."""
    version, internal, gauss_next = random.getstate()
    algorithm, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    cuda = tuple(torch.cuda.get_rng_state_all()) if torch.cuda.is_initialized() else ()
    return RngState(
        torch_cpu=torch.get_rng_state(),
        torch_cuda=cuda,
        python=[version, list(internal), gauss_next],
        numpy={
            "algorithm": str(algorithm),
            "keys": [int(key) for key in keys],
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
    )


def restore_rng_state(state: RngState) -> None:
    """Put every generator back where :func:`capture_rng_state` found it.

    CUDA states are restored for as many devices as both the snapshot and this machine have;
    a snapshot taken without CUDA leaves the CUDA generators alone.
    """
    torch.set_rng_state(state.torch_cpu.to(device="cpu", dtype=torch.uint8))
    if state.torch_cuda and torch.cuda.is_available():
        count = min(len(state.torch_cuda), torch.cuda.device_count())
        for index in range(count):
            torch.cuda.set_rng_state(state.torch_cuda[index].cpu(), device=index)
    version, internal, gauss_next = state.python
    random.setstate((int(version), tuple(int(value) for value in internal), gauss_next))
    numpy = state.numpy
    np.random.set_state(
        (
            numpy["algorithm"],
            np.asarray(numpy["keys"], dtype=np.uint32),
            int(numpy["pos"]),
            int(numpy["has_gauss"]),
            float(numpy["cached_gaussian"]),
        )
    )
