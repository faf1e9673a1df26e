"""Seeding, and capturing/restoring every random number generator a training run draws from.

References: PyTorch "Reproducibility" notes (torch.manual_seed seeds the CPU and every CUDA
generator); Python's ``random`` (Mersenne Twister, ``getstate``/``setstate``); NumPy's legacy
global generator (``np.random.get_state``/``set_state``).

A training run has one seed, ``train.seed``. It is applied at three points, each with one owner:

1. Initialisation. ``seqlab.tasks.runner.initial_model`` calls ``seed_everything(seed)`` and
   then the task's ``build_model``. Most layers initialise from torch's global generator
   (torch.nn's defaults: embeddings, linear maps, recurrent input weights and biases, every
   Transformer layer), so this call decides most initial weights. seqlab's own initialisations
   (orthogonal recurrent weights, chrono gate biases, the Transformer classifier's embedding)
   draw from ``init_generator(seed)``, a generator of their own, so their values do not depend
   on how many draws the layers built before them took. The MiniLM classifier restarts torch's
   generator at the seed after building its encoder, for the same reason, before its head.
2. Training. ``seqlab.train.fit`` calls ``seed_everything(config.seed)`` as a step of its
   set-up. Building a model draws a family-dependent number of values from the global
   generators, so without this second call the training's draws (dropout) would depend on the
   model's construction; with it, ``fit`` called on its own is reproducible too. A resumed
   ``fit`` then overwrites every generator with the checkpoint's states.
3. Data. Tasks derive each training batch from (seed, batch index) with generators of their own,
   never the global ones, so batch k is the same in a resumed run as in an unbroken one.

Neither 1 nor 2 is redundant: each decides numbers the other cannot reach. Evaluation captures
every generator before and restores it after (``capture_rng_state``), so evaluating more often
changes no trained weight. A resumed run reproduces an uninterrupted one only if all four
generators continue where they stopped, so a checkpoint stores all of them
(``seqlab.train.checkpoint``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "RngState",
    "capture_rng_state",
    "init_generator",
    "restore_rng_state",
    "seed_everything",
]

_MAX_SEED = 2**32 - 1  # numpy's legacy seed range, the narrowest of the three


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed ({seed!r}) must be an int in [0, {_MAX_SEED}]")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all CUDA devices)."""
    _check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def init_generator(seed: int) -> torch.Generator:
    """A CPU generator of its own, started at ``seed``, for a model's initialisation.

    Drawing from it leaves the global generators alone, and what it gives does not depend on
    what was drawn before. Its stream is the one torch's global CPU generator gives after
    ``torch.manual_seed(seed)``.
    """
    _check_seed(seed)
    return torch.Generator().manual_seed(seed)


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
