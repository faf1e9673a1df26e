"""Transformer encoder and decoder layers, their stacks, and the per-layer decoding cache.

References:
- Vaswani et al. 2017, "Attention Is All You Need", sec. 3.1: each encoder layer is multi-head
  self-attention then a position-wise feed-forward network, each wrapped as
  LayerNorm(x + Dropout(Sublayer(x))) (post-norm, sec. 3.1 and 5.4); each decoder layer adds
  encoder-decoder (cross-) attention between the two, and masks its self-attention (sec. 3.2.3).
- Same paper, sec. 3.3, eq. 2: FFN(x) = max(0, x W_1 + b_1) W_2 + b_2 (`linear1`, `linear2`);
  GELU (Hendrycks & Gimpel 2016) is offered as well, as in BERT and GPT.
- Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture": pre-norm,
  x + Sublayer(LayerNorm(x)) (norm_first=True), a deviation from the paper: the residual path
  stays an identity, gradients at initialisation are well-scaled, and deep stacks train without
  the learning-rate warm-up post-norm needs. A pre-norm stack then needs a final LayerNorm.
- torch.nn.TransformerEncoderLayer / TransformerDecoderLayer: submodule names (`self_attn`,
  `linear1`, `linear2`, `norm1`.., `dropout1`..), dropout placement and initialisation are theirs,
  so `from_torch` copies weights and both compute the same function. The decoder's cross-attention
  is named `cross_attn` (torch: `multihead_attn`).

Masks follow seqlab's convention (seqlab.nn.masks): bool, True = real token / may attend.
Shape legend: B batch, T target length, S source (memory) length, D model width, H heads, L layers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.attention import KVCache, MultiHeadAttention

__all__ = [
    "DecoderLayerCache",
    "DecoderLayerOutput",
    "DecoderOutput",
    "EncoderLayerOutput",
    "EncoderOutput",
    "TransformerCache",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


def _activation(name: str) -> Callable[[Tensor], Tensor]:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be 'relu' or 'gelu', got {name!r}")
    return _ACTIVATIONS[name]


def _torch_activation(module: nn.Module) -> str:
    # torch keeps the activation as a function (from a string) or a module (passed by the user).
    activation = module.activation
    if activation is F.relu or isinstance(activation, nn.ReLU):
        return "relu"
    exact_gelu = isinstance(activation, nn.GELU) and activation.approximate == "none"
    if activation is F.gelu or exact_gelu:
        return "gelu"
    raise ValueError(f"from_torch supports relu or gelu activations, got {activation}")


class EncoderLayerOutput(NamedTuple):
    output: Tensor  # (B, T, D)
    self_attn_weights: Tensor | None  # (B, H, T, T) when need_weights, else None


class DecoderLayerOutput(NamedTuple):
    output: Tensor  # (B, T, D)
    self_attn_weights: Tensor | None  # (B, H, T, T + cached) when need_weights, else None
    cross_attn_weights: Tensor | None  # (B, H, T, S) when need_weights, else None


class EncoderOutput(NamedTuple):
    output: Tensor  # (B, T, D)
    self_attn_weights: tuple[Tensor, ...] | None  # L x (B, H, T, T) when need_weights


class DecoderOutput(NamedTuple):
    output: Tensor  # (B, T, D)
    self_attn_weights: tuple[Tensor, ...] | None  # L x (B, H, T, T + cached) when need_weights
    cross_attn_weights: tuple[Tensor, ...] | None  # L x (B, H, T, S) when need_weights


@dataclass(eq=False)
class DecoderLayerCache:
    """A decoder layer's two caches: growing self-attention keys, and the projected memory."""

    self_attn: KVCache = field(default_factory=KVCache)
    cross_attn: KVCache = field(default_factory=KVCache)

    @property
    def length(self) -> int:
        return self.self_attn.length

    def reorder(self, batch_index: Tensor) -> None:
        self.self_attn.reorder(batch_index)
        self.cross_attn.reorder(batch_index)


@dataclass(eq=False)
class TransformerCache:
    """One cache per layer of a stack (KVCache for encoder layers, DecoderLayerCache for decoder
    layers), made by the stack's `new_cache()`."""

    layers: list[KVCache | DecoderLayerCache]

    @property
    def offset(self) -> int:
        """Positions already decoded: the `offset` for the next step's position encodings."""
        return self.layers[0].length

    def reorder(self, batch_index: Tensor) -> None:
        """Keep/reorder batch rows in every layer (beam search)."""
        for layer in self.layers:
            layer.reorder(batch_index)


class _FeedForward:
    """Eq. 2, shared by both layer types: linear2(dropout(activation(linear1(x))))."""

    linear1: nn.Linear
    linear2: nn.Linear
    dropout: nn.Dropout
    activation: Callable[[Tensor], Tensor]

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))  # (B, T, D)


def _attention_modules(module: nn.Module) -> list[MultiHeadAttention]:
    return [m for m in module.modules() if isinstance(m, MultiHeadAttention)]


class _ImplSwitch:
    """`impl` of a layer or stack: reading it gives its attention's path, setting it sets all."""

    @property
    def impl(self) -> str:
        return _attention_modules(self)[0].impl  # type: ignore[arg-type]

    @impl.setter
    def impl(self, impl: str) -> None:
        for attn in _attention_modules(self):  # type: ignore[arg-type]
            attn.impl = impl


class TransformerEncoderLayer(_FeedForward, _ImplSwitch, nn.Module):
    """Self-attention + feed-forward, each with a residual and LayerNorm (sec. 3.1).

    norm_first=False (default) is the paper's post-norm, x = LayerNorm(x + Sublayer(x));
    norm_first=True is pre-norm, x = x + Sublayer(LayerNorm(x)) (deviation; see module docstring).
    With causal=True and a cache this is also a decoder-only (GPT-style) block.
    """

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
        super().__init__()
        self.activation = _activation(activation)
        self.activation_name = activation
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, num_heads, dropout=dropout, bias=bias, impl=impl
        )
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    @classmethod
    def from_torch(
        cls, module: nn.TransformerEncoderLayer, *, impl: str = "fused"
    ) -> TransformerEncoderLayer:
        """Copy a torch.nn.TransformerEncoderLayer (batch_first or not: same weights)."""
        attn = module.self_attn
        layer = cls(
            attn.embed_dim,
            attn.num_heads,
            module.linear1.out_features,
            module.dropout.p,
            activation=_torch_activation(module),
            norm_first=module.norm_first,
            layer_norm_eps=module.norm1.eps,
            bias=module.linear1.bias is not None,
            impl=impl,
        )
        layer.to(device=attn.in_proj_weight.device, dtype=attn.in_proj_weight.dtype)
        layer.load_state_dict(module.state_dict())  # same parameter names as torch
        return layer

    def forward(
        self,
        x: Tensor,
        *,
        key_padding_mask: Tensor | None = None,
        causal: bool = False,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> EncoderLayerOutput:
        """x (B, T, D); key_padding_mask (B, T) bool, True = real token (with a cache: this
        call's tokens only). Returns EncoderLayerOutput(output (B, T, D), weights or None)."""
        h = self.norm1(x) if self.norm_first else x  # (B, T, D)
        attn = self.self_attn(
            h,
            key_padding_mask=key_padding_mask,
            causal=causal,
            cache=cache,
            need_weights=need_weights,
        )
        x = x + self.dropout1(attn.output)  # (B, T, D)
        if not self.norm_first:
            x = self.norm1(x)  # (B, T, D)
        h = self.norm2(x) if self.norm_first else x  # (B, T, D)
        x = x + self.dropout2(self._feed_forward(h))  # (B, T, D)
        if not self.norm_first:
            x = self.norm2(x)  # (B, T, D)
        return EncoderLayerOutput(x, attn.weights)


class TransformerDecoderLayer(_FeedForward, _ImplSwitch, nn.Module):
    """Masked self-attention, cross-attention over the memory, feed-forward (sec. 3.1).

    Same residual/LayerNorm placement as TransformerEncoderLayer (post-norm default, pre-norm with
    norm_first=True), with norm1/dropout1 around self-attention, norm2/dropout2 around
    cross-attention and norm3/dropout3 around the feed-forward network, as in torch.
    """

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
        super().__init__()
        self.activation = _activation(activation)
        self.activation_name = activation
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, num_heads, dropout=dropout, bias=bias, impl=impl
        )
        self.cross_attn = MultiHeadAttention(
            d_model, num_heads, dropout=dropout, bias=bias, impl=impl
        )
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    @classmethod
    def from_torch(
        cls, module: nn.TransformerDecoderLayer, *, impl: str = "fused"
    ) -> TransformerDecoderLayer:
        """Copy a torch.nn.TransformerDecoderLayer (its `multihead_attn` becomes `cross_attn`)."""
        attn = module.self_attn
        layer = cls(
            attn.embed_dim,
            attn.num_heads,
            module.linear1.out_features,
            module.dropout.p,
            activation=_torch_activation(module),
            norm_first=module.norm_first,
            layer_norm_eps=module.norm1.eps,
            bias=module.linear1.bias is not None,
            impl=impl,
        )
        layer.to(device=attn.in_proj_weight.device, dtype=attn.in_proj_weight.dtype)
        state = {
            name.replace("multihead_attn.", "cross_attn.", 1): tensor
            for name, tensor in module.state_dict().items()
        }
        layer.load_state_dict(state)
        return layer

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        *,
        target_padding_mask: Tensor | None = None,
        memory_padding_mask: Tensor | None = None,
        causal: bool = True,
        cache: DecoderLayerCache | None = None,
        need_weights: bool = False,
    ) -> DecoderLayerOutput:
        """x (B, T, D) targets, memory (B, S, D) encoder output; target_padding_mask (B, T) and
        memory_padding_mask (B, S) bool, True = real token. With a cache, x holds only the new
        positions and memory is projected on the first call only."""
        self_cache = None if cache is None else cache.self_attn
        cross_cache = None if cache is None else cache.cross_attn

        h = self.norm1(x) if self.norm_first else x  # (B, T, D)
        self_attn = self.self_attn(
            h,
            key_padding_mask=target_padding_mask,
            causal=causal,
            cache=self_cache,
            need_weights=need_weights,
        )
        x = x + self.dropout1(self_attn.output)  # (B, T, D)
        if not self.norm_first:
            x = self.norm1(x)  # (B, T, D)

        h = self.norm2(x) if self.norm_first else x  # (B, T, D)
        cross_attn = self.cross_attn(
            h,
            memory,
            key_padding_mask=memory_padding_mask,
            cache=cross_cache,
            need_weights=need_weights,
        )
        x = x + self.dropout2(cross_attn.output)  # (B, T, D)
        if not self.norm_first:
            x = self.norm2(x)  # (B, T, D)

        h = self.norm3(x) if self.norm_first else x  # (B, T, D)
        x = x + self.dropout3(self._feed_forward(h))  # (B, T, D)
        if not self.norm_first:
            x = self.norm3(x)  # (B, T, D)
        return DecoderLayerOutput(x, self_attn.weights, cross_attn.weights)


def _build_stack(
    layer_class: type[TransformerEncoderLayer] | type[TransformerDecoderLayer],
    *,
    num_layers: int,
    d_model: int,
    num_heads: int,
    dim_feedforward: int,
    dropout: float,
    activation: str,
    norm_first: bool,
    layer_norm_eps: float,
    bias: bool,
    impl: str,
    final_norm: bool | None,
) -> tuple[list[nn.Module], nn.Module | None]:
    """num_layers layers of one shape, and the stack's final LayerNorm (None when unused)."""
    layers = [
        layer_class(d_model, num_heads, dim_feedforward, dropout, activation=activation,
                    norm_first=norm_first, layer_norm_eps=layer_norm_eps, bias=bias, impl=impl)
        for _ in range(num_layers)
    ]  # fmt: skip
    use_norm = norm_first if final_norm is None else final_norm
    norm = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias) if use_norm else None
    return layers, norm


def _final_norm_from_torch(norm: nn.Module | None) -> nn.Module | None:
    return None if norm is None else copy.deepcopy(norm)


class TransformerEncoder(_ImplSwitch, nn.Module):
    """A stack of encoder layers and an optional final LayerNorm (needed after pre-norm layers).

    Build it from layers you made (`TransformerEncoder(layers, final_norm=...)`) or from
    hyper-parameters (`TransformerEncoder.build(num_layers=6, d_model=512, num_heads=8, ...)`).
    """

    def __init__(
        self, layers: Iterable[TransformerEncoderLayer], *, final_norm: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        if len(self.layers) == 0:
            raise ValueError("TransformerEncoder needs at least one layer")
        self.final_norm = final_norm

    @classmethod
    def build(
        cls,
        *,
        num_layers: int,
        d_model: int,
        num_heads: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
        impl: str = "fused",
        final_norm: bool | None = None,
    ) -> TransformerEncoder:
        """num_layers identical-shaped layers; final_norm defaults to norm_first, since a pre-norm
        stack's output is otherwise never normalised."""
        layers, norm = _build_stack(
            TransformerEncoderLayer, num_layers=num_layers, d_model=d_model, num_heads=num_heads,
            dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
            norm_first=norm_first, layer_norm_eps=layer_norm_eps, bias=bias, impl=impl,
            final_norm=final_norm,
        )  # fmt: skip
        return cls(layers, final_norm=norm)

    @classmethod
    def from_torch(
        cls, module: nn.TransformerEncoder, *, impl: str = "fused"
    ) -> TransformerEncoder:
        """Copy a torch.nn.TransformerEncoder: every layer, and its `norm` as `final_norm`."""
        layers = [TransformerEncoderLayer.from_torch(layer, impl=impl) for layer in module.layers]
        return cls(layers, final_norm=_final_norm_from_torch(module.norm))

    def new_cache(self) -> TransformerCache:
        """An empty cache for incremental causal decoding (decoder-only models)."""
        return TransformerCache([KVCache() for _ in self.layers])

    def forward(
        self,
        x: Tensor,
        *,
        key_padding_mask: Tensor | None = None,
        causal: bool = False,
        cache: TransformerCache | None = None,
        need_weights: bool = False,
    ) -> EncoderOutput:
        """x (B, T, D). Returns EncoderOutput(output (B, T, D), every layer's weights or None)."""
        _check_cache(cache, len(self.layers))
        weights = []
        for i, layer in enumerate(self.layers):
            layer_cache = None if cache is None else cache.layers[i]
            out = layer(
                x,
                key_padding_mask=key_padding_mask,
                causal=causal,
                cache=layer_cache,
                need_weights=need_weights,
            )
            x = out.output  # (B, T, D)
            weights.append(out.self_attn_weights)
        if self.final_norm is not None:
            x = self.final_norm(x)  # (B, T, D)
        return EncoderOutput(x, tuple(weights) if need_weights else None)


class TransformerDecoder(_ImplSwitch, nn.Module):
    """A stack of decoder layers and an optional final LayerNorm, with per-layer caches.

    Build it from layers (`TransformerDecoder(layers, final_norm=...)`) or from hyper-parameters
    (`TransformerDecoder.build(num_layers=6, d_model=512, num_heads=8, ...)`).
    """

    def __init__(
        self, layers: Iterable[TransformerDecoderLayer], *, final_norm: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        if len(self.layers) == 0:
            raise ValueError("TransformerDecoder needs at least one layer")
        self.final_norm = final_norm

    @classmethod
    def build(
        cls,
        *,
        num_layers: int,
        d_model: int,
        num_heads: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
        impl: str = "fused",
        final_norm: bool | None = None,
    ) -> TransformerDecoder:
        """num_layers identical-shaped layers; final_norm defaults to norm_first."""
        layers, norm = _build_stack(
            TransformerDecoderLayer, num_layers=num_layers, d_model=d_model, num_heads=num_heads,
            dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
            norm_first=norm_first, layer_norm_eps=layer_norm_eps, bias=bias, impl=impl,
            final_norm=final_norm,
        )  # fmt: skip
        return cls(layers, final_norm=norm)

    @classmethod
    def from_torch(
        cls, module: nn.TransformerDecoder, *, impl: str = "fused"
    ) -> TransformerDecoder:
        """Copy a torch.nn.TransformerDecoder: every layer, and its `norm` as `final_norm`."""
        layers = [TransformerDecoderLayer.from_torch(layer, impl=impl) for layer in module.layers]
        return cls(layers, final_norm=_final_norm_from_torch(module.norm))

    def new_cache(self) -> TransformerCache:
        """An empty cache for incremental decoding: one DecoderLayerCache per layer."""
        return TransformerCache([DecoderLayerCache() for _ in self.layers])

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        *,
        target_padding_mask: Tensor | None = None,
        memory_padding_mask: Tensor | None = None,
        causal: bool = True,
        cache: TransformerCache | None = None,
        need_weights: bool = False,
    ) -> DecoderOutput:
        """x (B, T, D), memory (B, S, D). Returns DecoderOutput(output (B, T, D), every layer's
        self- and cross-attention weights or None)."""
        _check_cache(cache, len(self.layers))
        self_weights, cross_weights = [], []
        for i, layer in enumerate(self.layers):
            layer_cache = None if cache is None else cache.layers[i]
            out = layer(
                x,
                memory,
                target_padding_mask=target_padding_mask,
                memory_padding_mask=memory_padding_mask,
                causal=causal,
                cache=layer_cache,
                need_weights=need_weights,
            )
            x = out.output  # (B, T, D)
            self_weights.append(out.self_attn_weights)
            cross_weights.append(out.cross_attn_weights)
        if self.final_norm is not None:
            x = self.final_norm(x)  # (B, T, D)
        if not need_weights:
            return DecoderOutput(x, None, None)
        return DecoderOutput(x, tuple(self_weights), tuple(cross_weights))


def _check_cache(cache: TransformerCache | None, num_layers: int) -> None:
    if cache is not None and len(cache.layers) != num_layers:
        raise ValueError(
            f"cache has {len(cache.layers)} layers but the stack has {num_layers}; "
            "make it with the stack's new_cache()"
        )
