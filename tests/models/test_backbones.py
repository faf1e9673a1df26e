"""Backbones (seqlab.models.backbones): where each family's dropout acts.

A Transformer's dropout sits inside every layer, so a one-layer Transformer backbone in training
mode must drop at the configured rate everywhere: checked against a pipeline written out by hand
that draws the same dropout masks in the same order. A recurrent backbone's dropout sits between
layers only, so a one-layer recurrent stack gets none.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

import seqlab.nn as snn
from seqlab.models.backbones import build_backbone
from seqlab.models.config import PretrainedConfig, RecurrentConfig, TransformerConfig

B, T, D, H, FF, P = 2, 5, 8, 2, 16, 0.25


def _transformer(num_layers: int, *, dropout: float = P) -> nn.Module:
    config = TransformerConfig(
        d_model=D, num_heads=H, num_layers=num_layers, dim_feedforward=FF, dropout=dropout,
        max_len=16, impl="reference",
    )  # fmt: skip
    torch.manual_seed(0)
    return build_backbone(config, input_size=D, causal=False, expected_length=T).double()


def _dropout_rates(module: nn.Module) -> list[float]:
    rates = [m.p for m in module.modules() if isinstance(m, nn.Dropout)]
    rates += [m.dropout for m in module.modules() if isinstance(m, snn.MultiHeadAttention)]
    return rates


@pytest.mark.parametrize("num_layers", [1, 2])
def test_every_transformer_dropout_takes_the_configs_rate(num_layers: int) -> None:
    # Per layer: attention weights, feed-forward, two residual branches; plus the input dropout.
    rates = _dropout_rates(_transformer(num_layers))
    assert rates == [P] * (1 + 4 * num_layers)


def _by_hand(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One post-norm encoder layer written out (Vaswani et al. 2017, sec. 3.1-3.3), dropping with
    F.dropout in the backbone's order: input, attention weights, attention branch, feed-forward
    hidden layer, feed-forward branch."""
    layer = backbone.encoder.layers[0]
    attn = layer.self_attn
    h = F.dropout(x + backbone.positions(T), P)  # (B, T, D)
    q, k, v = F.linear(h, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)  # (B, T, D)
    q, k, v = (t.reshape(B, T, H, D // H).transpose(1, 2) for t in (q, k, v))  # (B, H, T, Dh)
    weights = torch.softmax(q @ k.transpose(-2, -1) / (D // H) ** 0.5, dim=-1)  # (B, H, T, T)
    heads = F.dropout(weights, P) @ v  # (B, H, T, Dh)
    attended = attn.out_proj(heads.transpose(1, 2).reshape(B, T, D))  # (B, T, D)
    h = layer.norm1(h + F.dropout(attended, P))  # (B, T, D)
    hidden = F.dropout(torch.relu(layer.linear1(h)), P)  # (B, T, FF)
    return layer.norm2(h + F.dropout(layer.linear2(hidden), P))  # (B, T, D)


def test_one_layer_transformer_backbone_applies_its_dropout_in_training() -> None:
    backbone = _transformer(1).train()
    x = torch.randn(B, T, D, dtype=torch.float64)
    torch.manual_seed(1)
    output, state = backbone(x)
    torch.manual_seed(1)
    expected = _by_hand(backbone, x)
    assert state is None
    assert_close(output, expected, rtol=1e-12, atol=1e-12)
    evaluated, _ = backbone.eval()(x)
    assert not torch.allclose(output, evaluated)


def test_one_layer_recurrent_backbone_has_no_dropout_between_layers() -> None:
    config = RecurrentConfig(family="lstm", hidden_size=6, num_layers=1, dropout=0.3)
    backbone = build_backbone(config, input_size=4, causal=True, expected_length=10)
    assert backbone.rnn.dropout == 0.0
    stacked = RecurrentConfig(family="lstm", hidden_size=6, num_layers=2, dropout=0.3)
    assert build_backbone(stacked, input_size=4, causal=True, expected_length=10).rnn.dropout == 0.3


def test_a_pretrained_family_has_no_backbone_here() -> None:
    with pytest.raises(ValueError, match=r"model.family 'minilm' is a pretrained encoder"):
        build_backbone(PretrainedConfig(), input_size=4, causal=True, expected_length=10)
