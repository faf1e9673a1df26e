"""The Transformer encoder-decoder for translation, wired from seqlab.nn's blocks.

References:
- Vaswani et al. 2017, "Attention Is All You Need": sec. 3.1 the encoder and decoder stacks
  (seqlab.nn.transformer), sec. 3.4 token embeddings multiplied by sqrt(d_model) and, with a
  shared vocabulary, one matrix for both embeddings and the pre-softmax projection, sec. 3.5
  sinusoidal positions added to the embeddings (seqlab.nn.positions), sec. 5.4 dropout on their
  sum; Table 3's base model is Seq2SeqTransformerConfig's default.
- Beltagy et al. 2020, "Longformer": config.window (encoder, centred band) and
  config.decoder_window (decoder self-attention, causal band) make self-attention local.
- Press and Wolf 2017: the tied output projection (seqlab.models.seq2seq_embeddings).

Teacher forcing: forward(src_ids, src_lengths, tgt_in_ids, tgt_lengths) -> logits (B, T, V),
where tgt_in_ids is BOS followed by the reference without its last token; never a loss.
Incremental decoding: start_decoding encodes the source once; each decode_step feeds one token
per row and, with the cache, runs the decoder on that token only (each layer's self-attention
keys grow, its cross-attention keys are projected from the memory once, seqlab.nn's
TransformerCache); without the cache it reruns the decoder over the whole prefix.

Shape legend (the repository's): B batch, S source length, T target length, D model width,
H heads, L layers, V target vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TypedDict

import torch
from torch import Tensor, nn

from seqlab.models.seq2seq_config import Seq2SeqTransformerConfig
from seqlab.models.seq2seq_embeddings import Seq2SeqEmbeddings
from seqlab.models.seq2seq_inputs import check_tokens
from seqlab.nn.masks import padding_mask
from seqlab.nn.positions import SinusoidalPositions
from seqlab.nn.transformer import (
    DecoderOutput,
    TransformerCache,
    TransformerDecoder,
    TransformerEncoder,
)

__all__ = ["TransformerDecodingState", "TransformerSeq2Seq"]


class _LayerArguments(TypedDict):
    d_model: int
    num_heads: int
    dim_feedforward: int
    dropout: float
    activation: str
    norm_first: bool
    impl: str


@dataclass(eq=False)
class TransformerDecodingState:
    """What decode_step carries: the encoded source and the decoder's past.

    The cache is updated in place by decode_step, so a state must not be used again after it
    was passed on; reorder_state returns a state whose rows are selected copies.
    """

    memory: Tensor  # (B, S, D) encoder output
    memory_mask: Tensor  # (B, S) bool, True = real source token
    cache: TransformerCache | None  # None: use_cache=False, the prefix is rerun every step
    prefix: Tensor  # (B, t) target tokens fed so far (BOS first)


@contextmanager
def _reference_path(*stacks: TransformerEncoder | TransformerDecoder) -> Iterator[None]:
    """Run the stacks on the reference path (the one that returns attention weights) inside the
    block, whatever their impl, and restore it afterwards."""
    saved = [stack.impl for stack in stacks]
    for stack in stacks:
        stack.impl = "reference"
    try:
        yield
    finally:
        for stack, impl in zip(stacks, saved, strict=True):
            stack.impl = impl


class TransformerSeq2Seq(nn.Module):
    """Embeddings x sqrt(D) + sinusoidal positions -> dropout -> encoder; the same for the target
    prefix -> decoder over the encoder output -> the (tied) output projection."""

    def __init__(
        self,
        config: Seq2SeqTransformerConfig,
        *,
        src_vocab_size: int,
        tgt_vocab_size: int,
        pad_id: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.pad_id = pad_id
        self.embeddings = Seq2SeqEmbeddings(
            src_vocab_size=src_vocab_size,
            tgt_vocab_size=tgt_vocab_size,
            width=config.d_model,
            pad_id=pad_id,
            scale=math.sqrt(config.d_model),
            tie_output=config.tie_output,
            share_embeddings=config.share_embeddings,
        )
        self.positions = SinusoidalPositions(config.max_len, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        # Local attention where configured: the encoder's band is centred (it runs non-causal),
        # the decoder's causal (its self-attention is); cross-attention always reads everything.
        self.encoder = TransformerEncoder.build(
            num_layers=config.num_encoder_layers, window=config.window,
            **self._layer_sizes(config),
        )  # fmt: skip
        self.decoder = TransformerDecoder.build(
            num_layers=config.num_decoder_layers, window=config.decoder_window,
            **self._layer_sizes(config),
        )  # fmt: skip

    @staticmethod
    def _layer_sizes(config: Seq2SeqTransformerConfig) -> _LayerArguments:
        """What the encoder's and the decoder's layers share."""
        return {
            "d_model": config.d_model,
            "num_heads": config.num_heads,
            "dim_feedforward": config.dim_feedforward,
            "dropout": config.dropout,
            "activation": config.activation,
            "norm_first": config.norm_first,
            "impl": config.impl,
        }

    def encode(self, src_ids: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (memory (B, S, D), memory_mask (B, S) bool, True = real source token)."""
        check_tokens("src", src_ids, src_lengths)
        S = src_ids.shape[1]
        mask = padding_mask(src_lengths.to(src_ids.device), S)  # (B, S)
        x = self.dropout(self.embeddings.source(src_ids) + self.positions(S))  # (B, S, D)
        return self.encoder(x, key_padding_mask=mask).output, mask  # (B, S, D), (B, S)

    def _decode(
        self,
        tgt_ids: Tensor,
        memory: Tensor,
        memory_mask: Tensor,
        *,
        target_mask: Tensor | None = None,
        cache: TransformerCache | None = None,
        need_weights: bool = False,
    ) -> DecoderOutput:
        """The decoder over tgt_ids (B, T), placed after the cache's positions when given."""
        offset = 0 if cache is None else cache.offset
        positions = self.positions(tgt_ids.shape[1], offset=offset)  # (T, D)
        x = self.dropout(self.embeddings.target(tgt_ids) + positions)  # (B, T, D)
        return self.decoder(
            x,
            memory,
            target_padding_mask=target_mask,
            memory_padding_mask=memory_mask,
            cache=cache,
            need_weights=need_weights,
        )  # output (B, T, D)

    def forward(
        self, src_ids: Tensor, src_lengths: Tensor, tgt_in_ids: Tensor, tgt_lengths: Tensor
    ) -> Tensor:
        """Teacher forcing: logits (B, T, V); position t predicts the token after tgt_in_ids[:, t]
        from tgt_in_ids[:, :t+1] only. Positions at or past tgt_lengths are padding (their logits
        mean nothing)."""
        check_tokens("tgt", tgt_in_ids, tgt_lengths)
        memory, memory_mask = self.encode(src_ids, src_lengths)  # (B, S, D), (B, S)
        # Right padding: the causal rule alone keeps real positions from the pads; the mask
        # keeps padded positions from attending one another.
        target_mask = padding_mask(tgt_lengths.to(tgt_in_ids.device), tgt_in_ids.shape[1])
        decoded = self._decode(tgt_in_ids, memory, memory_mask, target_mask=target_mask)
        return self.embeddings.logits(decoded.output)  # (B, T, V)

    def start_decoding(
        self, src_ids: Tensor, src_lengths: Tensor, *, use_cache: bool = True
    ) -> TransformerDecodingState:
        """Encode the source once; use_cache=False reruns the decoder over the whole prefix at
        every step (slower, for checking the cache)."""
        memory, memory_mask = self.encode(src_ids, src_lengths)  # (B, S, D), (B, S)
        cache = self.decoder.new_cache() if use_cache else None
        prefix = src_ids.new_zeros(src_ids.shape[0], 0)  # (B, 0)
        return TransformerDecodingState(memory, memory_mask, cache, prefix)

    def decode_step(
        self, tokens: Tensor, state: TransformerDecodingState
    ) -> tuple[Tensor, TransformerDecodingState]:
        """Feed tokens (B, 1), the next token of every row; returns (logits (B, V) for the token
        after it, the new state)."""
        if tokens.dim() != 2 or tokens.shape != (state.memory.shape[0], 1):
            raise ValueError(
                f"tokens must be (B, 1) = ({state.memory.shape[0]}, 1), got {tuple(tokens.shape)}"
            )
        prefix = torch.cat([state.prefix, tokens], dim=1)  # (B, t + 1)
        fed = tokens if state.cache is not None else prefix  # (B, 1) or (B, t + 1)
        decoded = self._decode(fed, state.memory, state.memory_mask, cache=state.cache)
        logits = self.embeddings.logits(decoded.output[:, -1])  # (B, V)
        return logits, replace(state, prefix=prefix)

    def reorder_state(
        self, state: TransformerDecodingState, indices: Tensor
    ) -> TransformerDecodingState:
        """Row b of the result is row indices[b] of state (indices (B',): beams select, duplicate
        and drop rows). The cache is reordered in place and shared with the result."""
        if state.cache is not None:
            state.cache.reorder(indices)
        return TransformerDecodingState(
            memory=state.memory.index_select(0, indices),  # (B', S, D)
            memory_mask=state.memory_mask.index_select(0, indices),  # (B', S)
            cache=state.cache,
            prefix=state.prefix.index_select(0, indices),  # (B', t)
        )

    def cross_attention_weights(
        self,
        src_ids: Tensor,
        src_lengths: Tensor,
        tgt_in_ids: Tensor,
        tgt_lengths: Tensor,
        *,
        layer: int = -1,
    ) -> Tensor:
        """One decoder layer's cross-attention weights per head, (B, H, T, S): row t is where
        the layer looked while predicting the token after tgt_in_ids[:, t]. Runs the reference
        path (the fused kernel returns no weights) whatever `impl` is; call eval() first."""
        check_tokens("tgt", tgt_in_ids, tgt_lengths)
        with _reference_path(self.encoder, self.decoder):
            memory, memory_mask = self.encode(src_ids, src_lengths)  # (B, S, D), (B, S)
            target_mask = padding_mask(tgt_lengths.to(tgt_in_ids.device), tgt_in_ids.shape[1])
            decoded = self._decode(
                tgt_in_ids, memory, memory_mask, target_mask=target_mask, need_weights=True
            )
        weights = decoded.cross_attn_weights  # L x (B, H, T, S): need_weights gives them
        if weights is None:
            raise RuntimeError("the decoder returned no cross-attention weights")
        return weights[layer]  # (B, H, T, S)

    def alignment(
        self, src_ids: Tensor, src_lengths: Tensor, tgt_in_ids: Tensor, tgt_lengths: Tensor
    ) -> Tensor:
        """The last decoder layer's cross-attention averaged over heads, (B, T, S): an alignment
        heatmap (each real row sums to 1)."""
        weights = self.cross_attention_weights(src_ids, src_lengths, tgt_in_ids, tgt_lengths)
        return weights.mean(dim=1)  # (B, T, S)
