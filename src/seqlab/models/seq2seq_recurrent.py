"""The recurrent encoder-decoder with attention for translation, wired from seqlab.nn's blocks.

References:
- Bahdanau, Cho and Bengio 2015, "Neural Machine Translation by Jointly Learning to Align and
  Translate": the bidirectional encoder, whose annotation of word s is [forward h_s ; backward
  h_s] (sec. 3.2), and the additive score (seqlab.nn.recurrent_attention).
- Luong, Pham and Manning 2015, "Effective Approaches to Attention-based Neural Machine
  Translation": global attention (sec. 3.1) with the dot and general scores; each step's
  attentional vector h~_t = tanh(W_c [c_t ; h_t]) (eq. 5) gives p(y_t) = softmax(W_s h~_t)
  (eq. 6, W_s tied to the target embedding when tie_output); input feeding (sec. 3.3): h~_{t-1}
  joins the embedding of y_{t-1} as the decoder's input (h~_0 = 0).

The architecture is Luong's for every score: the decoder steps first and its new top-layer
state h_t is the query. Bahdanau's decoder queries with the previous state s_{i-1} instead and
feeds the context into the recurrence; here input feeding carries the previous context into the
recurrence (through h~_{t-1}), which is the part of that design the score alone lacks.

The bridge (the decoder's initial state): the encoder and the decoder have the same number of
layers; decoder layer l starts from encoder layer l's final states, the forward direction's
(after the last real word) and the backward direction's (after reading back to the first)
concatenated, [h_fwd ; h_bwd] (hidden_size / 2 each), and for the LSTM the cells the same way
(OpenNMT's bidirectional bridge). A unidirectional encoder's final states are used as they are.

Dropout (Zaremba et al. 2014, on non-recurrent connections only): on the embeddings, between
stacked layers, and on h~_t before the output projection and input feeding. Weights start as
torch's (uniform +-1/sqrt(fan)) except the embeddings (seqlab.models.seq2seq_embeddings).

Shape legend (the repository's): B batch, S source length, T target length, V target
vocabulary, L layers; widths are written out (hidden_size, embed_dim).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
from torch import Tensor, nn

from seqlab.models.seq2seq_config import Seq2SeqRecurrentConfig
from seqlab.models.seq2seq_embeddings import Seq2SeqEmbeddings
from seqlab.models.seq2seq_inputs import check_tokens
from seqlab.nn.masks import padding_mask
from seqlab.nn.recurrent import GRU, LSTM
from seqlab.nn.recurrent_attention import RecurrentAttention
from seqlab.nn.recurrent_checks import State, select_state_rows

__all__ = ["EncodedSource", "RecurrentDecodingState", "RecurrentSeq2Seq"]

_LAYERS: dict[str, type[LSTM] | type[GRU]] = {"lstm": LSTM, "gru": GRU}


class EncodedSource(NamedTuple):
    """The encoder's output, as every decoder step reads it."""

    memory: Tensor  # (B, S, hidden_size) encoder states: the attention's keys and values
    projected_keys: Tensor  # (B, S, ...) RecurrentAttention.project_keys(memory)
    mask: Tensor  # (B, S) bool, True = real source token

    def select(self, indices: Tensor) -> EncodedSource:
        return EncodedSource(*(part.index_select(0, indices) for part in self))  # (B', S, ...)


@dataclass(frozen=True, eq=False)
class RecurrentDecodingState:
    """What decode_step carries; decode_step returns a new state and never changes this one."""

    source: EncodedSource
    initial: State  # (L, B, hidden_size), (h, c) for the LSTM: the bridge's output
    hidden: State | None  # the decoder's state after the prefix; None: use_cache=False
    feed: Tensor  # (B, 1, hidden_size) the last attentional vector h~ (zeros before the first)
    prefix: Tensor  # (B, t) target tokens fed so far (BOS first)


class RecurrentSeq2Seq(nn.Module):
    """Embeddings -> bidirectional LSTM/GRU encoder -> bridge -> LSTM/GRU decoder, its top state
    attending over the encoder states -> h~ = tanh(W_c [c ; h]) -> the (tied) output projection.
    """

    def __init__(
        self,
        config: Seq2SeqRecurrentConfig,
        *,
        src_vocab_size: int,
        tgt_vocab_size: int,
        pad_id: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.pad_id = pad_id
        hidden, embed_dim, layers = config.hidden_size, config.token_width, config.num_layers
        self.num_directions = 2 if config.bidirectional_encoder else 1
        self.embeddings = Seq2SeqEmbeddings(
            src_vocab_size=src_vocab_size,
            tgt_vocab_size=tgt_vocab_size,
            width=embed_dim,
            pad_id=pad_id,
            scale=1.0,
            tie_output=config.tie_output,
            share_embeddings=config.share_embeddings,
            output_width=hidden,
        )
        self.dropout = nn.Dropout(config.dropout)
        # torch's recurrent dropout acts between layers only; one layer would just warn.
        between_layers = config.dropout if layers > 1 else 0.0
        layer_class = _LAYERS[config.family]
        self.encoder = layer_class(
            embed_dim,
            hidden // self.num_directions,
            num_layers=layers,
            dropout=between_layers,
            bidirectional=config.bidirectional_encoder,
            impl=config.impl,
        )
        decoder_input = embed_dim + hidden if config.input_feeding else embed_dim
        self.decoder = layer_class(
            decoder_input, hidden, num_layers=layers, dropout=between_layers, impl=config.impl
        )
        self.attention = RecurrentAttention(
            config.attention,
            query_size=hidden,
            key_size=hidden,
            attention_size=config.attention_size,
        )
        self.combine = nn.Linear(2 * hidden, hidden, bias=False)  # W_c of eq. 5 (no bias there)

    # ---- the encoder and the bridge ----
    def _join_directions(self, h: Tensor) -> Tensor:
        """(L*num_directions, B, hidden_size / num_directions) -> (L, B, hidden_size), each
        layer's directions side by side ([fwd ; bwd], as the encoder's outputs)."""
        rows, batch, width = h.shape
        layers = rows // self.num_directions
        split = h.view(layers, self.num_directions, batch, width)  # (L, dirs, B, width)
        return split.transpose(1, 2).reshape(layers, batch, -1)  # (L, B, hidden_size)

    def _bridge(self, final: State) -> State:
        if isinstance(final, tuple):
            h, c = final
            return self._join_directions(h), self._join_directions(c)  # (L, B, hidden_size)
        return self._join_directions(final)  # (L, B, hidden_size)

    def encode(self, src_ids: Tensor, src_lengths: Tensor) -> tuple[EncodedSource, State]:
        """Returns (the encoded source, the decoder's initial state from the bridge)."""
        check_tokens("src", src_ids, src_lengths)
        mask = padding_mask(src_lengths.to(src_ids.device), src_ids.shape[1])  # (B, S)
        embedded = self.dropout(self.embeddings.source(src_ids))  # (B, S, embed_dim)
        memory, final = self.encoder(embedded, None, src_lengths)  # (B, S, hidden_size)
        projected = self.attention.project_keys(memory)  # (B, S, ...)
        return EncodedSource(memory, projected, mask), self._bridge(final)

    # ---- the decoder ----
    def _attentional(self, outputs: Tensor, source: EncodedSource) -> tuple[Tensor, Tensor]:
        """Decoder top states (B, T, hidden_size) -> (dropout(h~) (B, T, hidden_size), attention
        weights (B, T, S))."""
        context, weights = self.attention(
            outputs, source.memory, source.mask, projected_keys=source.projected_keys
        )  # (B, T, hidden_size), (B, T, S)
        combined = torch.tanh(self.combine(torch.cat([context, outputs], dim=-1)))  # eq. 5
        return self.dropout(combined), weights  # (B, T, hidden_size), (B, T, S)

    def _run_decoder(
        self,
        tgt_ids: Tensor,
        source: EncodedSource,
        state: State,
        feed: Tensor,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, State]:
        """Decode tgt_ids (B, T) after `state` and the attentional vector `feed` (B, 1,
        hidden_size). Returns (dropout(h~) (B, T, hidden_size), weights (B, T, S), final state).
        lengths (B,) may only be given without input feeding (one pass over the padded batch)."""
        embedded = self.dropout(self.embeddings.target(tgt_ids))  # (B, T, embed_dim)
        if not self.config.input_feeding:
            # No step depends on the previous h~: one pass of the recurrence over all T.
            outputs, state = self.decoder(embedded, state, lengths)  # (B, T, hidden_size)
            attentional, weights = self._attentional(outputs, source)
            return attentional, weights, state
        steps, step_weights = [], []
        for t in range(tgt_ids.shape[1]):
            x = torch.cat([embedded[:, t : t + 1], feed], dim=-1)  # (B, 1, embed + hidden_size)
            output, state = self.decoder(x, state)  # (B, 1, hidden_size)
            feed, weights = self._attentional(output, source)  # (B, 1, hidden_size), (B, 1, S)
            steps.append(feed)
            step_weights.append(weights)
        return torch.cat(steps, dim=1), torch.cat(step_weights, dim=1), state  # (B, T, ...)

    def _teacher_forced(
        self, src_ids: Tensor, src_lengths: Tensor, tgt_in_ids: Tensor, tgt_lengths: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(dropout(h~) (B, T, hidden_size), attention weights (B, T, S))."""
        check_tokens("tgt", tgt_in_ids, tgt_lengths)
        source, initial = self.encode(src_ids, src_lengths)
        feed = self._first_feed(source)  # (B, 1, hidden_size)
        # Steps past a sentence's length only produce padding's logits, so the step-by-step
        # (input feeding) path runs them as they come; the one-pass path skips them.
        lengths = None if self.config.input_feeding else tgt_lengths
        attentional, weights, _ = self._run_decoder(tgt_in_ids, source, initial, feed, lengths)
        return attentional, weights

    def _first_feed(self, source: EncodedSource) -> Tensor:
        """h~_0 = 0 (Luong sec. 3.3 leaves it unspecified; zeros, as OpenNMT)."""
        batch = source.memory.shape[0]
        return source.memory.new_zeros(batch, 1, self.config.hidden_size)  # (B, 1, hidden_size)

    def forward(
        self, src_ids: Tensor, src_lengths: Tensor, tgt_in_ids: Tensor, tgt_lengths: Tensor
    ) -> Tensor:
        """Teacher forcing: logits (B, T, V); position t predicts the token after tgt_in_ids[:, t]
        from tgt_in_ids[:, :t+1] only. Positions at or past tgt_lengths are padding (their logits
        mean nothing)."""
        attentional, _ = self._teacher_forced(src_ids, src_lengths, tgt_in_ids, tgt_lengths)
        return self.embeddings.logits(attentional)  # (B, T, V)

    def alignment(
        self, src_ids: Tensor, src_lengths: Tensor, tgt_in_ids: Tensor, tgt_lengths: Tensor
    ) -> Tensor:
        """The attention weights (B, T, S): row t is where the decoder looked while predicting
        the token after tgt_in_ids[:, t] (each real row sums to 1). Call eval() first."""
        _, weights = self._teacher_forced(src_ids, src_lengths, tgt_in_ids, tgt_lengths)
        return weights  # (B, T, S)

    # ---- incremental decoding ----
    def start_decoding(
        self, src_ids: Tensor, src_lengths: Tensor, *, use_cache: bool = True
    ) -> RecurrentDecodingState:
        """Encode the source once; use_cache=False reruns the decoder over the whole prefix from
        the bridge's state at every step (slower, for checking the carried state)."""
        source, initial = self.encode(src_ids, src_lengths)
        prefix = src_ids.new_zeros(src_ids.shape[0], 0)  # (B, 0)
        hidden = initial if use_cache else None
        return RecurrentDecodingState(source, initial, hidden, self._first_feed(source), prefix)

    def decode_step(
        self, tokens: Tensor, state: RecurrentDecodingState
    ) -> tuple[Tensor, RecurrentDecodingState]:
        """Feed tokens (B, 1), the next token of every row; returns (logits (B, V) for the token
        after it, the new state)."""
        batch = state.source.memory.shape[0]
        if tokens.dim() != 2 or tokens.shape != (batch, 1):
            raise ValueError(f"tokens must be (B, 1) = ({batch}, 1), got {tuple(tokens.shape)}")
        prefix = torch.cat([state.prefix, tokens], dim=1)  # (B, t + 1)
        if state.hidden is None:
            first_feed = self._first_feed(state.source)  # (B, 1, hidden_size)
            attentional, _, _ = self._run_decoder(prefix, state.source, state.initial, first_feed)
            feed, hidden = attentional[:, -1:], None  # (B, 1, hidden_size)
        else:
            feed, _, hidden = self._run_decoder(tokens, state.source, state.hidden, state.feed)
        logits = self.embeddings.logits(feed[:, -1])  # (B, V)
        return logits, replace(state, hidden=hidden, feed=feed, prefix=prefix)

    def reorder_state(
        self, state: RecurrentDecodingState, indices: Tensor
    ) -> RecurrentDecodingState:
        """Row b of the result is row indices[b] of state (indices (B',): beams select, duplicate
        and drop rows)."""
        return RecurrentDecodingState(
            source=state.source.select(indices),
            initial=select_state_rows(state.initial, indices),
            hidden=None if state.hidden is None else select_state_rows(state.hidden, indices),
            feed=state.feed.index_select(0, indices),  # (B', 1, hidden_size)
            prefix=state.prefix.index_select(0, indices),  # (B', t)
        )
