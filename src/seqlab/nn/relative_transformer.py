"""Transformer-XL's layer and stack: causal relative self-attention over a segment and the
memory each layer keeps of the segments before it.

References:
- Dai et al. 2019, "Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context",
  sec. 3.2, segment-level recurrence. For layer n and segment tau + 1:
      h~^{n-1}_{tau+1} = [SG(m^{n-1}_tau) o h^{n-1}_{tau+1}]      (o: concatenation in time)
      q, k, v = h^{n-1}_{tau+1} W_q,  h~^{n-1}_{tau+1} W_k,  h~^{n-1}_{tau+1} W_v
      h^n_{tau+1} = Layer(q, k, v)
  where m^{n-1}_tau, the memory, is the last M states of the layer's input over the earlier
  segments, and SG stops the gradient (``next_memory`` detaches): training cost stays that of
  one segment, while the context grows by up to M positions a layer (about N M for N layers).
  Sec. 3.3 and appendix B: the attention itself, seqlab.nn.relative_attention.
- The layer's wiring (the sub-layer residuals, their LayerNorm placed by norm_first, the
  feed-forward network of Vaswani et al. eq. 2, and the submodule names) is seqlab.nn.transformer's,
  reused as is; only the self-attention differs. With norm_first (pre-norm, as the paper's code
  offers with pre_lnorm), the memory is kept un-normalised, as the layer's input, and the
  layer's LayerNorm is applied to memory and segment alike before the projections.

Shape legend (the repository's): B batch, T segment length, M memory length, S = M + T keys,
D model width, H heads, L layers.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Self

import torch
from torch import Tensor, nn

from seqlab.nn.attention import AttentionOutput
from seqlab.nn.relative_attention import RelativeMultiHeadAttention, RelativePositions
from seqlab.nn.transformer import _ImplSwitch, _TransformerLayer

__all__ = [
    "RelativeEncoderOutput",
    "RelativeTransformerEncoder",
    "RelativeTransformerLayer",
    "next_memory",
]


class RelativeEncoderOutput(NamedTuple):
    output: Tensor  # (B, T, D) after the last layer (and the final LayerNorm, when there is one)
    layer_inputs: Tensor  # (L, B, T, D) each layer's input at the segment: the next memory's rows
    self_attn_weights: tuple[Tensor, ...] | None  # L x (B, H, T, S) when need_weights


class RelativeTransformerLayer(_TransformerLayer):
    """Relative self-attention over [memory; segment] + feed-forward, each a residual sub-layer
    (pre-norm with norm_first=True, else the paper's post-norm)."""

    has_cross_attention = False

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        *,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
        impl: str = "fused",
    ) -> None:
        super().__init__(d_model, num_heads, dim_feedforward, dropout, activation=activation,
                         norm_first=norm_first, layer_norm_eps=layer_norm_eps, bias=bias,
                         impl=impl)  # fmt: skip
        self.self_attn = RelativeMultiHeadAttention(
            d_model, num_heads, dropout=dropout, bias=bias, impl=impl
        )

    @classmethod
    def from_torch(cls, module: nn.Module, *, impl: str = "fused") -> Self:
        raise ValueError(
            "RelativeTransformerLayer has no torch.nn counterpart to copy (torch has no "
            "relative attention)"
        )

    def forward(
        self,
        x: Tensor,
        *,
        positions: Tensor,
        memory: Tensor | None = None,
        need_weights: bool = False,
    ) -> AttentionOutput:
        """x (B, T, D) the segment; memory (B, M, D) this layer's memory (None: none); positions
        (S, D) R for distances S-1..0. Returns (output (B, T, D), weights (B, H, T, S) or None).
        """
        if memory is not None and self.norm_first:
            memory = self.norm1(memory)  # (B, M, D) normalised like the segment (_sublayer)
        self_attention = partial(
            self.self_attn, positions=positions, memory=memory, need_weights=need_weights
        )
        x, weights = self._sublayer(x, self.norm1, self.dropout1, self_attention)  # (B, T, D)
        x, _ = self._sublayer(x, self.norm2, self.dropout2, self._feed_forward)  # (B, T, D)
        return AttentionOutput(x, weights)


class RelativeTransformerEncoder(_ImplSwitch, nn.Module):
    """L RelativeTransformerLayers sharing one R table, and an optional final LayerNorm.

    max_length: the most keys one call may have (memory + segment), the R table's reach.
    """

    def __init__(
        self,
        layers: list[RelativeTransformerLayer],
        *,
        max_length: int,
        final_norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("RelativeTransformerEncoder needs at least one layer")
        self.layers = nn.ModuleList(layers)
        self.d_model = layers[0].linear1.in_features
        self.positions = RelativePositions(max_length - 1, self.d_model)
        self.final_norm = final_norm

    @classmethod
    def build(
        cls,
        *,
        num_layers: int,
        d_model: int,
        num_heads: int,
        max_length: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
        impl: str = "fused",
        final_norm: bool | None = None,
    ) -> Self:
        """num_layers identical-shaped layers; final_norm defaults to norm_first."""
        layers = [
            RelativeTransformerLayer(d_model, num_heads, dim_feedforward, dropout,
                                     activation=activation, norm_first=norm_first,
                                     layer_norm_eps=layer_norm_eps, bias=bias, impl=impl)
            for _ in range(num_layers)
        ]  # fmt: skip
        use_norm = norm_first if final_norm is None else final_norm
        norm = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias) if use_norm else None
        return cls(layers, max_length=max_length, final_norm=norm)

    def forward(
        self, x: Tensor, *, memory: Tensor | None = None, need_weights: bool = False
    ) -> RelativeEncoderOutput:
        """x (B, T, D) the segment; memory (L, B, M, D) every layer's memory, or None (M = 0).
        Causal: position i of the segment sees the whole memory and the segment up to i."""
        L, (B, T, D) = len(self.layers), x.shape
        if memory is not None and (memory.dim() != 4 or memory.shape[:2] != (L, B)
                                   or memory.shape[3] != D):  # fmt: skip
            raise ValueError(
                f"memory must be (L, B, M, D) = ({L}, {B}, M, {D}), got {tuple(memory.shape)}"
            )
        key_len = T + (0 if memory is None else memory.shape[2])
        positions = self.positions(key_len)  # (S, D) R for distances S-1..0
        inputs, weights = [], []
        for index, layer in enumerate(self.layers):
            inputs.append(x)
            layer_memory = None if memory is None else memory[index]  # (B, M, D)
            x, layer_weights = layer(
                x, positions=positions, memory=layer_memory, need_weights=need_weights
            )  # (B, T, D)
            weights.append(layer_weights)
        if self.final_norm is not None:
            x = self.final_norm(x)  # (B, T, D)
        layer_inputs = torch.stack(inputs)  # (L, B, T, D)
        return RelativeEncoderOutput(x, layer_inputs, tuple(weights) if need_weights else None)


def next_memory(memory: Tensor | None, layer_inputs: Tensor, *, memory_length: int) -> Tensor:
    """SG(the last memory_length states of [memory; layer_inputs]) per layer (sec. 3.2):
    memory (L, B, M, D) or None, layer_inputs (L, B, T, D) -> (L, B, min(M + T, memory_length),
    D), detached, so no gradient ever crosses into an earlier segment."""
    if memory_length < 1:
        raise ValueError(f"memory_length ({memory_length}) must be at least 1 to keep a memory")
    joined = layer_inputs if memory is None else torch.cat([memory, layer_inputs], dim=2)
    return joined[:, :, -memory_length:].detach()  # (L, B, M', D)
