"""The token embeddings and output projection of an encoder-decoder, tied or shared.

References:
- Press and Wolf 2017, "Using the Output Embedding to Improve Language Models": the target
  embedding E (V, D) doubles as the pre-softmax projection, logits = x E^T (`tie_output`).
- Vaswani et al. 2017, "Attention Is All You Need", sec. 3.4: with a joint (shared BPE)
  vocabulary the source embedding, the target embedding and the output projection are one
  matrix (`share_embeddings`), and the Transformer multiplies embeddings by sqrt(d_model)
  (`scale`).

A tied or shared matrix is registered once (`target_embedding`); the other roles read that same
Parameter, so the state dict holds each tensor once (safetensors refuses tensors that share
memory) and a gradient from any role lands in the one tensor.

Shape legend (the repository's): B batch, S source length, T target length, V vocabulary, D the
embedding width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Seq2SeqEmbeddings"]


def _embedding(vocab_size: int, width: int, pad_id: int) -> nn.Embedding:
    embedding = nn.Embedding(vocab_size, width, padding_idx=pad_id)
    # N(0, 1/D): unit-size vectors after the Transformer's sqrt(D) scale (as the classifier's),
    # and small logits at the start when the matrix is also the output projection.
    nn.init.normal_(embedding.weight, std=width**-0.5)
    with torch.no_grad():
        embedding.weight[pad_id].zero_()
    return embedding


class Seq2SeqEmbeddings(nn.Module):
    """Source and target token embeddings (times `scale`) and the output projection (no bias).

    tie_output: logits = x E_tgt^T with the target embedding's own Parameter (x must then be
    `width` wide); otherwise the projection reads `output_width`-wide vectors (default `width`).
    share_embeddings: the source also reads E_tgt (needs tie_output and one vocabulary size).
    """

    def __init__(
        self,
        *,
        src_vocab_size: int,
        tgt_vocab_size: int,
        width: int,
        pad_id: int,
        scale: float,
        tie_output: bool,
        share_embeddings: bool,
        output_width: int | None = None,
    ) -> None:
        super().__init__()
        output_width = width if output_width is None else output_width
        if tie_output and output_width != width:
            raise ValueError(
                f"tie_output needs the output projection's input width ({output_width}) equal "
                f"to the embedding width ({width})"
            )
        if share_embeddings and not tie_output:
            raise ValueError("share_embeddings needs tie_output: all three roles are one matrix")
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"share_embeddings needs one joint vocabulary, got src_vocab_size "
                f"({src_vocab_size}) and tgt_vocab_size ({tgt_vocab_size})"
            )
        for name, size in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size)):
            if not 0 <= pad_id < size:
                raise ValueError(f"pad_id ({pad_id}) must be a token id below {name} ({size})")
        self.scale = scale
        self.tie_output = tie_output
        self.share_embeddings = share_embeddings
        self.target_embedding = _embedding(tgt_vocab_size, width, pad_id)
        self.source_embedding = (
            None if share_embeddings else _embedding(src_vocab_size, width, pad_id)
        )
        self.output_projection = (
            None if tie_output else nn.Linear(output_width, tgt_vocab_size, bias=False)
        )

    def _source_table(self) -> nn.Embedding:
        return self.target_embedding if self.source_embedding is None else self.source_embedding

    @property
    def source_weight(self) -> Tensor:
        """The source embedding matrix (V_src, D); the target's when shared."""
        return self._source_table().weight

    @property
    def output_weight(self) -> Tensor:
        """The output projection's matrix (V_tgt, D); the target embedding's when tied."""
        if self.output_projection is None:
            return self.target_embedding.weight
        return self.output_projection.weight

    def source(self, ids: Tensor) -> Tensor:
        """ids (B, S) -> scaled embeddings (B, S, D)."""
        return self._source_table()(ids) * self.scale  # (B, S, D)

    def target(self, ids: Tensor) -> Tensor:
        """ids (B, T) -> scaled embeddings (B, T, D)."""
        return self.target_embedding(ids) * self.scale  # (B, T, D)

    def logits(self, x: Tensor) -> Tensor:
        """x (..., D) -> logits (..., V) = x W_out^T."""
        return F.linear(x, self.output_weight)  # (..., V)
