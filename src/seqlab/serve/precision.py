"""Serving a Transformer sentiment classifier in bfloat16 (``seqlab serve --dtype bfloat16``).

At serving sizes an encoder's cost is its matrix products: MiniLM on one CPU core reads a
16 x 27-token batch in 110 ms in float32 and 59 ms with bfloat16 weights (measured on an AVX-512
BF16 core), so the same core answers about twice the requests. bfloat16 keeps float32's exponent
range with an 8-bit mantissa (about 3 significant digits): the class probabilities move by about
1e-3, which leaves the predicted label of a confident classifier unchanged (the benchmark counts
how many SST-2 dev labels change).

Only attention classifiers (families transformer and minilm) are converted: a recurrent model's
state runs through hundreds of steps, and rounding it at every step compounds; the LSTM already
meets its serving target in float32. Translators and language models stay float32 too: beam
scores and sampling sum log-probabilities over many steps. Every model the flag leaves alone is
named in the start-up line, so nothing is silently dropped.

On a CPU without native bfloat16 instructions the products are emulated and slower than float32;
``native_bfloat16`` says which case this machine is, and the start-up line warns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch

from seqlab.serve.state import LoadedModel

Dtype = Literal["float32", "bfloat16"]
DTYPES: tuple[Dtype, ...] = ("float32", "bfloat16")


def can_run_in_bfloat16(model: LoadedModel) -> bool:
    """True for a sentiment classifier built on attention (a Transformer or MiniLM)."""
    return model.task == "sentiment" and bool(model.predictor.has_attention)


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX), as oneDNN reports."""
    if not torch.backends.mkldnn.is_available():
        return False
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def apply_dtype(models: Iterable[LoadedModel], dtype: Dtype) -> list[str]:
    """Cast every model that can run in ``dtype`` and return one line per model saying what it
    runs in (and why a model stays float32), for the start-up log."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if dtype == "float32":
        return []
    lines = []
    for model in models:
        if model.dtype == "int8":
            # Its int8 weights' scales must stay float32, and int8 is already the faster form.
            lines.append(f"{model.name}: stays int8 (quantised by seqlab export)")
        elif can_run_in_bfloat16(model):
            model.predictor.model.to(torch.bfloat16)
            model.dtype = "bfloat16"
            lines.append(f"{model.name}: bfloat16 weights")
        else:
            lines.append(
                f"{model.name}: stays float32 (--dtype bfloat16 applies to attention sentiment "
                f"classifiers; this one is family {model.family}, task {model.task})"
            )
    if not native_bfloat16():
        lines.append(
            "warning: this CPU has no native bfloat16 instructions, so bfloat16 runs slower than "
            "float32 here; drop --dtype bfloat16"
        )
    return lines
