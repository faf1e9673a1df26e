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
- Beltagy et al. 2020, "Longformer", sec. 3.1: `window` makes a layer's self-attention local
  (sliding window; seqlab.nn.attention.MultiHeadAttention and seqlab.nn.local_attention), causal
  or centred as the `causal` flag of forward says. The decoder's cross-attention stays full: its
  keys are the source, whose positions do not line up with the target's.

Masks follow seqlab's convention (seqlab.nn.masks): bool, True = real token / may attend.
Shape legend: B batch, T target length, S source (memory) length, D model width, H heads, L layers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, Generic, NamedTuple, Self, TypeVar

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


class _TransformerLayer(_ImplSwitch, nn.Module):
    """What both layer kinds share: self-attention (and, in the decoder, cross-attention), the
    feed-forward network of eq. 2, a LayerNorm and a dropout around each sub-layer, and the copy
    from torch.nn. Submodules are made in torch's order, so the same seed gives the same weights.

    window: None (default) is full self-attention; an int w limits each query to the w-token
    band of MultiHeadAttention's `window` (causal when forward's `causal` is True, else centred).
    It adds no parameters, so a state dict loads with or without it.
    """

    has_cross_attention: ClassVar[bool]

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
        window: int | None = None,
    ) -> None:
        super().__init__()
        self.activation = _activation(activation)
        self.activation_name = activation
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, num_heads, dropout=dropout, bias=bias, impl=impl, window=window
        )
        if self.has_cross_attention:
            self.cross_attn = MultiHeadAttention(
                d_model, num_heads, dropout=dropout, bias=bias, impl=impl
            )
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        if self.has_cross_attention:
            self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        if self.has_cross_attention:
            self.dropout3 = nn.Dropout(dropout)

    @property
    def window(self) -> int | None:
        """The self-attention's window (None: full attention)."""
        return self.self_attn.window

    @classmethod
    def from_torch(
        cls,
        module: nn.TransformerEncoderLayer | nn.TransformerDecoderLayer,
        *,
        impl: str = "fused",
    ) -> Self:
        """Copy the matching torch.nn layer (batch_first or not: same weights); torch's names are
        ours, except that the decoder's `multihead_attn` becomes `cross_attn`."""
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

    def _feed_forward(self, x: Tensor) -> tuple[Tensor, None]:
        """Eq. 2, linear2(dropout(activation(linear1(x)))), shaped like attention's output."""
        return self.linear2(self.dropout(self.activation(self.linear1(x)))), None  # (B, T, D)

    def _sublayer(
        self,
        x: Tensor,
        norm: nn.Module,
        dropout: nn.Module,
        sublayer: Callable[[Tensor], tuple[Tensor, Tensor | None]],
    ) -> tuple[Tensor, Tensor | None]:
        """One residual sub-layer, the LayerNorm placed by norm_first: post-norm (the paper's)
        LayerNorm(x + Dropout(Sublayer(x))), or pre-norm x + Dropout(Sublayer(LayerNorm(x))).
        Returns (x (B, T, D), the sub-layer's attention weights or None)."""
        h = norm(x) if self.norm_first else x  # (B, T, D)
        output, weights = sublayer(h)  # (B, T, D), (B, H, T, S) or None
        x = x + dropout(output)  # (B, T, D)
        if not self.norm_first:
            x = norm(x)  # (B, T, D)
        return x, weights


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention + feed-forward, each with a residual and LayerNorm (sec. 3.1).

    norm_first=False (default) is the paper's post-norm, x = LayerNorm(x + Sublayer(x));
    norm_first=True is pre-norm, x = x + Sublayer(LayerNorm(x)) (deviation; see module docstring).
    With causal=True and a cache this is also a decoder-only (GPT-style) block.
    `from_torch(module)` copies a torch.nn.TransformerEncoderLayer.
    """

    has_cross_attention = False

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
        self_attention = partial(
            self.self_attn,
            key_padding_mask=key_padding_mask,
            causal=causal,
            cache=cache,
            need_weights=need_weights,
        )
        x, weights = self._sublayer(x, self.norm1, self.dropout1, self_attention)  # (B, T, D)
        x, _ = self._sublayer(x, self.norm2, self.dropout2, self._feed_forward)  # (B, T, D)
        return EncoderLayerOutput(x, weights)


class TransformerDecoderLayer(_TransformerLayer):
    """Masked self-attention, cross-attention over the memory, feed-forward (sec. 3.1).

    Same residual/LayerNorm placement as TransformerEncoderLayer (post-norm default, pre-norm with
    norm_first=True), with norm1/dropout1 around self-attention, norm2/dropout2 around
    cross-attention and norm3/dropout3 around the feed-forward network, as in torch.
    `from_torch(module)` copies a torch.nn.TransformerDecoderLayer.
    """

    has_cross_attention = True

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

        self_attention = partial(
            self.self_attn,
            key_padding_mask=target_padding_mask,
            causal=causal,
            cache=self_cache,
            need_weights=need_weights,
        )
        cross_attention = partial(
            self.cross_attn,
            key=memory,
            key_padding_mask=memory_padding_mask,
            cache=cross_cache,
            need_weights=need_weights,
        )
        x, self_weights = self._sublayer(x, self.norm1, self.dropout1, self_attention)
        x, cross_weights = self._sublayer(x, self.norm2, self.dropout2, cross_attention)
        x, _ = self._sublayer(x, self.norm3, self.dropout3, self._feed_forward)  # (B, T, D)
        return DecoderLayerOutput(x, self_weights, cross_weights)


LayerT = TypeVar("LayerT", TransformerEncoderLayer, TransformerDecoderLayer)


class _TransformerStack(_ImplSwitch, nn.Module, Generic[LayerT]):
    """What TransformerEncoder and TransformerDecoder share: layers of one kind (`layer_class`)
    and an optional final LayerNorm, made from layers, from hyper-parameters or from torch.nn."""

    layer_class: type[LayerT]

    def __init__(self, layers: Iterable[LayerT], *, final_norm: nn.Module | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        if len(self.layers) == 0:
            raise ValueError(f"{type(self).__name__} needs at least one layer")
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
        window: int | None = None,
    ) -> Self:
        """num_layers identical-shaped layers; final_norm defaults to norm_first, since a pre-norm
        stack's output is otherwise never normalised. window: every layer's self-attention window
        (None: full attention; see _TransformerLayer)."""
        layers = [
            cls.layer_class(d_model, num_heads, dim_feedforward, dropout, activation=activation,
                            norm_first=norm_first, layer_norm_eps=layer_norm_eps, bias=bias,
                            impl=impl, window=window)
            for _ in range(num_layers)
        ]  # fmt: skip
        use_norm = norm_first if final_norm is None else final_norm
        norm = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias) if use_norm else None
        return cls(layers, final_norm=norm)

    @classmethod
    def from_torch(
        cls, module: nn.TransformerEncoder | nn.TransformerDecoder, *, impl: str = "fused"
    ) -> Self:
        """Copy a torch.nn.TransformerEncoder or TransformerDecoder (the one matching this stack):
        every layer, and its `norm` as `final_norm`."""
        layers = [cls.layer_class.from_torch(layer, impl=impl) for layer in module.layers]
        norm = None if module.norm is None else copy.deepcopy(module.norm)
        return cls(layers, final_norm=norm)

    def _layers_and_caches(
        self, cache: TransformerCache | None
    ) -> Iterator[tuple[nn.Module, KVCache | DecoderLayerCache | None]]:
        """Each layer with its own cache (None without one), after checking the cache fits."""
        if cache is None:
            return ((layer, None) for layer in self.layers)
        if len(cache.layers) != len(self.layers):
            raise ValueError(
                f"cache has {len(cache.layers)} layers but the stack has {len(self.layers)}; "
                "make it with the stack's new_cache()"
            )
        return zip(self.layers, cache.layers, strict=True)

    def _final_norm(self, x: Tensor) -> Tensor:
        return x if self.final_norm is None else self.final_norm(x)  # (B, T, D)


class TransformerEncoder(_TransformerStack[TransformerEncoderLayer]):
    """A stack of encoder layers and an optional final LayerNorm (needed after pre-norm layers).

    Build it from layers you made (`TransformerEncoder(layers, final_norm=...)`), from
    hyper-parameters (`TransformerEncoder.build(num_layers=6, d_model=512, num_heads=8, ...)`) or
    from a torch.nn.TransformerEncoder (`TransformerEncoder.from_torch(module)`).
    """

    layer_class = TransformerEncoderLayer

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
        weights = []
        for layer, layer_cache in self._layers_and_caches(cache):
            out = layer(
                x,
                key_padding_mask=key_padding_mask,
                causal=causal,
                cache=layer_cache,
                need_weights=need_weights,
            )
            x = out.output  # (B, T, D)
            weights.append(out.self_attn_weights)
        x = self._final_norm(x)  # (B, T, D)
        return EncoderOutput(x, tuple(weights) if need_weights else None)


class TransformerDecoder(_TransformerStack[TransformerDecoderLayer]):
    """A stack of decoder layers and an optional final LayerNorm, with per-layer caches.

    Build it from layers (`TransformerDecoder(layers, final_norm=...)`), from hyper-parameters
    (`TransformerDecoder.build(num_layers=6, d_model=512, num_heads=8, ...)`) or from a
    torch.nn.TransformerDecoder (`TransformerDecoder.from_torch(module)`).
    """

    layer_class = TransformerDecoderLayer

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
        self_weights, cross_weights = [], []
        for layer, layer_cache in self._layers_and_caches(cache):
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
        x = self._final_norm(x)  # (B, T, D)
        if not need_weights:
            return DecoderOutput(x, None, None)
        return DecoderOutput(x, tuple(self_weights), tuple(cross_weights))
