"""The two execution paths of seqlab.nn's blocks, named and checked in one place.

Reference: DESIGN.md, "Two paths, one set of weights": every block that torch also implements runs
either ``impl="reference"`` (the equations written out, with hooks to read per-step states, gates
and attention weights) or ``impl="fused"`` (torch's kernels), over one parameter set. The choice is
always explicit and checked here, so a misspelt path fails with the same message everywhere
instead of silently running the other one.
"""

from __future__ import annotations

__all__ = ["IMPLS", "ImplChoice", "check_impl"]

IMPLS: tuple[str, ...] = ("reference", "fused")


def check_impl(impl: str) -> str:
    """Return `impl` if it names one of the two paths, else raise naming the value."""
    if impl not in IMPLS:
        choices = " or ".join(repr(name) for name in IMPLS)
        raise ValueError(f"impl must be {choices}, got {impl!r}")
    return impl


class ImplChoice:
    """Mixin for a block that runs one of the two paths: an `impl` checked on every assignment."""

    _impl: str

    @property
    def impl(self) -> str:
        """Which path the block runs: "fused" (torch's kernels) or "reference"."""
        return self._impl

    @impl.setter
    def impl(self, impl: str) -> None:
        self._impl = check_impl(impl)
