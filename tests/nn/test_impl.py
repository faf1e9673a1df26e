"""The one `impl` check of seqlab.nn (seqlab.nn.impl): one message, from every block that has two
paths, at construction and on assignment, and a refused value leaves the block as it was."""

from __future__ import annotations

import pytest
import torch

import seqlab.nn as snn
from seqlab.nn.impl import IMPLS, check_impl

MESSAGE = r"impl must be 'reference' or 'fused', got 'cudnn'"


def test_check_impl_accepts_both_paths_and_names_a_bad_value() -> None:
    assert IMPLS == ("reference", "fused")
    for impl in IMPLS:
        assert check_impl(impl) == impl
    with pytest.raises(ValueError, match=MESSAGE):
        check_impl("cudnn")


BLOCKS = {
    "RNN": lambda impl: snn.RNN(3, 4, impl=impl),
    "LSTM": lambda impl: snn.LSTM(3, 4, impl=impl),
    "GRU": lambda impl: snn.GRU(3, 4, impl=impl),
    "MultiHeadAttention": lambda impl: snn.MultiHeadAttention(8, 2, impl=impl),
    "TransformerEncoderLayer": lambda impl: snn.TransformerEncoderLayer(8, 2, 16, impl=impl),
    "TransformerDecoderLayer": lambda impl: snn.TransformerDecoderLayer(8, 2, 16, impl=impl),
    "TransformerEncoder": lambda impl: snn.TransformerEncoder.build(
        num_layers=2, d_model=8, num_heads=2, dim_feedforward=16, impl=impl
    ),
    "TransformerDecoder": lambda impl: snn.TransformerDecoder.build(
        num_layers=2, d_model=8, num_heads=2, dim_feedforward=16, impl=impl
    ),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_every_block_refuses_a_bad_impl_with_the_one_message(name: str) -> None:
    make = BLOCKS[name]
    with pytest.raises(ValueError, match=MESSAGE):
        make("cudnn")
    block = make("reference")
    with pytest.raises(ValueError, match=MESSAGE):
        block.impl = "cudnn"
    assert block.impl == "reference"
    block.impl = "fused"
    assert block.impl == "fused"


def test_scaled_dot_product_attention_refuses_a_bad_impl_with_the_one_message() -> None:
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match=MESSAGE):
        snn.scaled_dot_product_attention(q, q, q, impl="cudnn")


def test_a_refused_impl_draws_no_random_numbers() -> None:
    """The layer checks impl before drawing its weights, so a failed construction leaves the
    global random stream where it was."""
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=MESSAGE):
        snn.LSTM(3, 4, impl="cudnn")
    after_failure = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after_failure, torch.rand(3))
