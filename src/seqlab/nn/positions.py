"""Position encodings added to token embeddings, since attention alone ignores token order.

References:
- Vaswani et al. 2017, "Attention Is All You Need", sec. 3.5:
  PE(pos, 2i) = sin(pos / 10000^(2i / d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model)).
  The paper also tried learned position embeddings and found nearly identical results (Table 3,
  row (E)); `LearnedPositions` is that variant (also GPT's and BERT's choice).

Both modules return the (T, D) encodings of positions offset..offset+T-1 for the caller to add to
(B, T, D) embeddings; `offset` is the number of positions already in a decoding cache.
Odd embed_dim is supported: the last (even) column is a sine whose cosine partner would not fit.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LearnedPositions", "SinusoidalPositions"]


class _PositionTable(nn.Module):
    """What both encodings share: a checked (max_len, embed_dim) size, and reading rows of it."""

    def __init__(self, max_len: int, embed_dim: int) -> None:
        super().__init__()
        if max_len <= 0 or embed_dim <= 0:
            raise ValueError(f"max_len ({max_len}) and embed_dim ({embed_dim}) must be > 0")
        self.max_len = max_len
        self.embed_dim = embed_dim

    def _rows(self, table: Tensor, length: int, offset: int) -> Tensor:
        if length < 0 or offset < 0:
            raise ValueError(f"length ({length}) and offset ({offset}) must be >= 0")
        if offset + length > self.max_len:
            raise ValueError(
                f"positions up to {offset + length} (offset {offset} + length {length}) "
                f"exceed max_len ({self.max_len})"
            )
        return table[offset : offset + length]  # (T, D)


class SinusoidalPositions(_PositionTable):
    """The paper's fixed sinusoidal table (sec. 3.5), computed once; no parameters."""

    table: Tensor  # (max_len, D), a non-persistent buffer

    def __init__(self, max_len: int, embed_dim: int) -> None:
        super().__init__(max_len, embed_dim)
        # Computed in float64 so the float32 table is correctly rounded even at large pos.
        pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (T, 1)
        two_i = torch.arange(0, embed_dim, 2, dtype=torch.float64)  # (ceil(D/2),)
        angle = pos / 10000.0 ** (two_i / embed_dim)  # (T, ceil(D/2))
        table = torch.zeros(max_len, embed_dim, dtype=torch.float64)  # (T, D)
        table[:, 0::2] = torch.sin(angle)  # (T, ceil(D/2))  PE(pos, 2i)
        table[:, 1::2] = torch.cos(angle[:, : embed_dim // 2])  # (T, floor(D/2))  PE(pos, 2i+1)
        # Non-persistent: a pure function of (max_len, embed_dim), so it stays out of checkpoints
        # but still follows .to(device, dtype).
        self.register_buffer("table", table.float(), persistent=False)

    def forward(self, length: int, *, offset: int = 0) -> Tensor:
        """Encodings of positions offset..offset+length-1: (T, D)."""
        return self._rows(self.table, length, offset)  # (T, D)


class LearnedPositions(_PositionTable):
    """One learned vector per position (sec. 3.5's alternative), an embedding table `weight`."""

    def __init__(self, max_len: int, embed_dim: int) -> None:
        super().__init__(max_len, embed_dim)
        self.weight = nn.Parameter(torch.empty(max_len, embed_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Small (std 0.02, as GPT-2) so positions do not swamp token embeddings at the start.
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, length: int, *, offset: int = 0) -> Tensor:
        """Encodings of positions offset..offset+length-1: (T, D)."""
        return self._rows(self.weight, length, offset)  # (T, D)
