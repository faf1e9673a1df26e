"""An int8 weight matrix, quantised per output row, and the Linear layer built on it.

References: Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", sec. 2.1: a real value r is represented as r = S (q - Z).
Here the weights are quantised symmetrically (Z = 0) with one scale per output row (Krishnamoorthi
2018, "Quantizing deep convolutional networks for efficient inference: A whitepaper", sec. 3.1,
per-channel quantisation):

    S_j = max_k |W_jk| / 127,    q_jk = clamp(round(W_jk / S_j), -127, 127),

so each row uses the full int8 range whatever the other rows' magnitudes. Activations are
quantised dynamically, per call and per tensor, by torch's ``quantized::linear_dynamic``
(fbgemm), which measures the input's range, multiplies in int8 and returns float32: the kernel
``torch.ao.quantization.quantize_dynamic`` installs for nn.Linear. Inputs get 8 bits on a CPU
with VNNI and 7 elsewhere (``REDUCE_RANGE`` says why).

What is saved is plain tensors: ``values`` (int8, the q above) and ``scale`` (float32, one per
row), so a model directory's safetensors file holds them; torch's packed form is rebuilt from
them on first use and after every ``load_state_dict``.

``QuantizedMatrix`` also answers ``torch.nn.functional.linear(x, matrix, bias)`` through
torch's ``__torch_function__`` protocol (an object that defines it is accepted wherever a tensor
is). seqlab.nn.MultiHeadAttention projects queries, keys and values with
``F.linear(x, self.in_proj_weight, ...)``; putting a QuantizedMatrix in place of that parameter
quantises the projection without a second copy of the attention code.

Shapes: N rows (output features), K columns (input features), B batch, T time steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Int8Linear", "QuantizedMatrix", "quantize_rows"]

INT8_LIMIT = 127  # symmetric: -127..127, so that -q is representable for every q


def accumulates_in_32_bits() -> bool:
    """Whether this CPU multiplies int8 with a 32-bit accumulating dot product (x86 VNNI:
    AVX512-VNNI, AVX-VNNI, AMX), read from /proc/cpuinfo; False where it cannot tell."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = handle.read()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


# Inputs are quantised to 7 bits (fbgemm's reduce_range, quantize_dynamic's choice on x86) unless
# the CPU accumulates in 32 bits. Without VNNI, fbgemm adds pairs of u8 x s8 products in int16
# (vpmaddubsw), which 8-bit inputs can saturate (2 x 255 x 127 > 32767); with it, the 8-bit
# step halves the input rounding: on SST-2 dev, MiniLM loses 0.46 points of accuracy with 8-bit
# inputs against 1.03 with 7-bit ones (benchmarks/export.py).
REDUCE_RANGE = not accumulates_in_32_bits()


def quantize_rows(weight: Tensor) -> tuple[Tensor, Tensor]:
    """(int8 values (N, K), float32 scale (N,)) with weight ~= values * scale[:, None].

    An all-zero row gets scale 1 (any scale represents it exactly)."""
    if weight.dim() != 2:
        raise ValueError(f"quantize_rows takes a matrix (N, K), got shape {tuple(weight.shape)}")
    weight = weight.detach().float()
    peak = weight.abs().amax(dim=1)  # (N,)
    scale = torch.where(peak > 0, peak / INT8_LIMIT, torch.ones_like(peak))  # (N,)
    values = torch.round(weight / scale[:, None]).clamp(-INT8_LIMIT, INT8_LIMIT)  # (N, K)
    return values.to(torch.int8), scale


class QuantizedMatrix(nn.Module):
    """A float matrix stored as int8 rows and one float32 scale per row (module docstring)."""

    def __init__(self, rows: int, columns: int) -> None:
        super().__init__()
        self.register_buffer("values", torch.zeros(rows, columns, dtype=torch.int8))  # (N, K)
        self.register_buffer("scale", torch.ones(rows))  # (N,)
        self._packed: Any = None  # torch's packed weight (and bias), rebuilt lazily
        self._packed_key: tuple[int, int] | None = None  # which bias it holds

    values: Tensor
    scale: Tensor

    @classmethod
    def from_float(cls, weight: Tensor) -> QuantizedMatrix:
        matrix = cls(*weight.shape)
        values, scale = quantize_rows(weight)
        matrix.values.copy_(values)
        matrix.scale.copy_(scale)
        return matrix

    @property
    def shape(self) -> torch.Size:
        return self.values.shape

    def quantized(self) -> Tensor:
        """The matrix as a torch per-channel quantised tensor (qint8, zero points 0)."""
        zero_points = torch.zeros(self.values.shape[0], dtype=torch.long)  # (N,)
        with warnings.catch_warnings():
            # torch 2.13 marks quantised tensors deprecated; its int8 kernels still take them.
            warnings.simplefilter("ignore", UserWarning)
            return torch._make_per_channel_quantized_tensor(
                self.values, self.scale.double(), zero_points, 0
            )

    def dequantize(self) -> Tensor:
        """The float32 matrix the int8 values stand for, values * scale (N, K)."""
        return self.values.float() * self.scale[:, None]

    def linear(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """x (..., K) @ W^T + bias -> (..., N), in int8 with dynamically quantised inputs."""
        # The bias is packed with the weight (fbgemm adds it while writing the output: a
        # separate addition cost as much as the product at batch 32); the packing is redone
        # only when another bias, or a changed one, is passed.
        key = None if bias is None else (id(bias), _version(bias))
        if self._packed is None or self._packed_key != key:
            bias_value = None if bias is None else bias.detach().float()
            self._packed = torch.ops.quantized.linear_prepack(self.quantized(), bias_value)
            self._packed_key = key
        return torch.ops.quantized.linear_dynamic(
            x.float().contiguous(), self._packed, REDUCE_RANGE
        )

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._packed = None  # new values: pack again on the next call

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = dict(kwargs or {})
        if func is F.linear or func is torch._C._nn.linear:
            x, matrix, *rest = args
            bias = rest[0] if rest else kwargs.get("bias")
            if isinstance(matrix, QuantizedMatrix):
                return matrix.linear(x, bias)
        raise TypeError(
            f"an int8 weight supports F.linear only, not {getattr(func, '__name__', func)}; "
            "this layer runs in float32 models only"
        )

    def extra_repr(self) -> str:
        rows, columns = self.values.shape
        return f"{rows}, {columns}, int8 per row"


def _version(tensor: Tensor) -> int:
    """How often ``tensor`` was changed in place (an inference-mode tensor keeps no count)."""
    try:
        return int(tensor._version)
    except RuntimeError:
        return 0


class Int8Linear(nn.Module):
    """nn.Linear with an int8 weight (QuantizedMatrix) and a float32 bias."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = QuantizedMatrix(out_features, in_features)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    @classmethod
    def from_float(cls, linear: nn.Linear) -> Int8Linear:
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        layer.weight = QuantizedMatrix.from_float(linear.weight)
        if linear.bias is not None and layer.bias is not None:
            layer.bias.data.copy_(linear.bias.detach().float())
        return layer

    def forward(self, x: Tensor) -> Tensor:
        return self.weight.linear(x, self.bias)  # (..., out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"
