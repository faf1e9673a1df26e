"""Encoder-decoder networks for translation: the interface both families share, and the builder.

The two networks (seqlab.models.seq2seq_transformer, after Vaswani et al. 2017, and
seqlab.models.seq2seq_recurrent, after Bahdanau et al. 2015 and Luong et al. 2015) answer the
same calls, `Seq2SeqModel` below, so a task trains, decodes and draws alignments the same way
for both. Decoding itself is task- and model-free (seqlab.infer.decoding reads only
`decode_step` and `reorder_state`).

Token conventions (the task's): tgt_in_ids is BOS followed by the reference, and the training
targets are the reference followed by EOS; the source needs neither (the task may end it with
EOS). pad_id marks padding; padded positions are found from the lengths, never from the ids.

Shape legend (the repository's): B batch, S source length, T target length, V target
vocabulary.
"""

from __future__ import annotations

from typing import Any, Protocol

from torch import Tensor

from seqlab.models.seq2seq_config import (
    Seq2SeqConfig,
    Seq2SeqRecurrentConfig,
    Seq2SeqTransformerConfig,
)
from seqlab.models.seq2seq_recurrent import RecurrentSeq2Seq
from seqlab.models.seq2seq_transformer import TransformerSeq2Seq

__all__ = ["Seq2SeqModel", "build_seq2seq"]


class Seq2SeqModel(Protocol):
    """What a translation task asks of its network (both families implement it).

    The decoding state is the model's own (encoder memory, caches or recurrent state); callers
    only pass it back. A state passed to decode_step or reorder_state must not be used again:
    use the one returned.
    """

    def __call__(
        self, src_ids: Tensor, src_lengths: Tensor, tgt_in_ids: Tensor, tgt_lengths: Tensor
    ) -> Tensor:
        """Teacher forcing (nn.Module's call of forward): src_ids (B, S), src_lengths (B,),
        tgt_in_ids (B, T), tgt_lengths (B,) -> logits (B, T, V); never a loss."""
        ...

    def start_decoding(
        self, src_ids: Tensor, src_lengths: Tensor, *, use_cache: bool = True
    ) -> Any:
        """Encode the source once: the state before the first decode_step (which feeds BOS)."""
        ...

    def decode_step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """tokens (B, 1) -> (logits (B, V) of the next token, the new state)."""
        ...

    def reorder_state(self, state: Any, indices: Tensor) -> Any:
        """Row b of the result is row indices[b] (B',) of the state."""
        ...

    def alignment(
        self, src_ids: Tensor, src_lengths: Tensor, tgt_in_ids: Tensor, tgt_lengths: Tensor
    ) -> Tensor:
        """Cross-attention weights (B, T, S) for a heatmap: row t is where the decoder looked
        while predicting the token after tgt_in_ids[:, t]."""
        ...


def build_seq2seq(
    config: Seq2SeqConfig, *, src_vocab_size: int, tgt_vocab_size: int, pad_id: int
) -> TransformerSeq2Seq | RecurrentSeq2Seq:
    """The network the config names (its family), with the given vocabulary sizes."""
    if isinstance(config, Seq2SeqTransformerConfig):
        return TransformerSeq2Seq(
            config, src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, pad_id=pad_id
        )
    if isinstance(config, Seq2SeqRecurrentConfig):
        return RecurrentSeq2Seq(
            config, src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, pad_id=pad_id
        )
    raise TypeError(
        f"build_seq2seq takes a Seq2SeqTransformerConfig or Seq2SeqRecurrentConfig, got "
        f"{type(config).__name__}"
    )
