"""Recording the attention weights of every MultiHeadAttention in a model during a forward pass.

References:
- Vaswani et al. 2017, "Attention Is All You Need", sec. 3.2.1, eq. 1: the weights recorded are
  softmax(Q K^T / sqrt(d_k)) per head, the (B, H, T, S) tensor of seqlab.nn.attention (before
  dropout; masked keys get 0).
- Clark et al. 2019, "What Does BERT Look At? An Analysis of BERT's Attention": reading a
  trained Transformer through its per-layer, per-head attention maps.

Layers call their attention with need_weights=False, and usually on the fused path, whose kernel
returns no weights (DESIGN.md: it raises rather than silently falling back). ``recorded_attention``
switches every MultiHeadAttention to the reference path for the duration of the block, asks each
call for its weights through forward hooks, and hands the layers back exactly the output they
asked for (weights only where the caller wanted them), so the model's own code runs unchanged.
On leaving the block (normally or by an exception) the hooks are removed and every module's
``impl`` is restored. The model itself is changed while the block runs, so no other thread may
run it meanwhile (seqlab.serve runs every model call in one executor thread).

The reference path computes the same function as the fused one, to float rounding (tested in
tests/nn/test_attention.py), so a recorded forward pass gives the model's ordinary outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from torch import Tensor, nn

from seqlab.nn.attention import AttentionOutput, MultiHeadAttention

__all__ = ["AttentionRecord", "attention_modules", "recorded_attention"]


class AttentionRecord(NamedTuple):
    """One attention call: the module's qualified name in the model (``named_modules``'s, e.g.
    ``backbone.encoder.layers.0.self_attn``) and its weights."""

    name: str
    weights: Tensor  # (B, H, T, S) softmax probabilities, each real query row sums to 1


def attention_modules(module: nn.Module) -> list[tuple[str, MultiHeadAttention]]:
    """Every MultiHeadAttention inside ``module`` (itself included), with its qualified name, in
    registration order (for a Transformer stack: layer by layer, self- before cross-attention)."""
    return [
        (name, child)
        for name, child in module.named_modules()
        if isinstance(child, MultiHeadAttention)
    ]


@contextmanager
def recorded_attention(module: nn.Module) -> Iterator[list[AttentionRecord]]:
    """Record the weights of every attention call inside ``module`` while the block runs.

    Yields a list that fills as the block runs: one AttentionRecord per call, in call order (a
    module called several times, as in step-by-step decoding, appears once per call). The
    weights are detached. Raises ValueError when ``module`` holds no MultiHeadAttention (a
    recurrent model has no attention to record)::

        with recorded_attention(model) as records:
            logits = model(ids, lengths)
        for name, weights in records:  # weights (B, H, T, S)
            ...
    """
    attentions = attention_modules(module)
    if not attentions:
        raise ValueError(
            f"{type(module).__name__} has no MultiHeadAttention, so there is no attention to "
            "record (a recurrent model has none)"
        )
    records: list[AttentionRecord] = []
    saved_impls = [attention.impl for _, attention in attentions]
    handles = []
    try:
        for name, attention in attentions:
            # Per module, whether each call in progress asked for weights itself. A stack, so a
            # call that raised (and never reached its forward hook) cannot shift later answers.
            caller_asked: list[bool] = []
            handles.append(
                attention.register_forward_pre_hook(
                    _asking_for_weights(caller_asked), with_kwargs=True
                )
            )
            handles.append(
                attention.register_forward_hook(
                    _recording(name, records, caller_asked), with_kwargs=True
                )
            )
            attention.impl = "reference"  # the only path that can return weights
        yield records
    finally:
        for handle in handles:
            handle.remove()
        for (_, attention), impl in zip(attentions, saved_impls, strict=True):
            attention.impl = impl


def _asking_for_weights(caller_asked: list[bool]) -> Any:
    def pre_hook(
        _: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        caller_asked.append(bool(kwargs.get("need_weights", False)))
        return args, {**kwargs, "need_weights": True}

    return pre_hook


def _recording(name: str, records: list[AttentionRecord], caller_asked: list[bool]) -> Any:
    def hook(
        _: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: AttentionOutput
    ) -> AttentionOutput:
        asked = caller_asked.pop()
        if output.weights is None:  # need_weights=True on the reference path always gives them
            raise RuntimeError(f"attention {name!r} returned no weights on the reference path")
        records.append(AttentionRecord(name, output.weights.detach()))  # (B, H, T, S)
        # The caller gets what it asked for: a layer that wanted no weights keeps getting None.
        return output if asked else output._replace(weights=None)

    return hook
