"""The Transformer-XL language model: relative positions, and a memory carried across segments.

References:
- Dai et al. 2019, "Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context":
  sec. 3.2, segment-level recurrence (each layer also attends to the last M states of its input
  over the earlier segments, kept without gradient), sec. 3.3 and appendix B, relative
  positional encodings; the blocks are seqlab.nn.relative_transformer's.
- Radford et al. 2019 (GPT-2) and nanoGPT, as seqlab.models.language_model_transformer: token
  embedding -> dropout -> L blocks (pre-norm by default) -> final LayerNorm -> the tied output
  projection, GPT-2's initialisation (shared: initialise_gpt2). W_{k,R} is a Linear and starts
  as the others; u and v start at zero. Deviations from the paper's model: no absolute position
  anywhere (as the paper), the embedding is not scaled by sqrt(D) (GPT-2's habit instead) and
  there is no adaptive softmax.

forward(ids (B, T), memory=None) -> (logits (B, T, V), memory): position t predicts token t + 1
from ids[:, :t+1] and the memory; T is at most `context` (the segment length the model trains
on). `memory` is (L, B, m, D), each layer's input at the last m <= memory_length positions
read before these ids (None: nothing before). The returned memory is the one the next segment
needs, the last memory_length states of [memory; this segment], detached: feeding it to the
next call continues the stream, and no gradient crosses the boundary. With memory_length 0 the
returned memory is always None and the model is the relative-position Transformer reading each
window alone (the "plain" model the memory is compared with).

Incremental decoding, and the context policy (the same with and without the cache):
- Tokens are read in segments of `context`, the first one starting at the first token of the
  prompt. With memory_length M > 0, when a segment is full the next token starts a new one, and
  the full segment's layer inputs go into the memory (its last M states per layer), exactly as
  in training: the context kept is the current segment plus the memory, and a prompt of any
  length is read whole, one segment at a time.
- With M = 0 there is no memory to roll into, so the window follows TransformerLM's rule instead:
  a prompt keeps its last `context` tokens, and when a token would overflow the context the
  window restarts from its last max(1, context // 2) tokens (the new one included).
- The logits of every call are those of forward(segment, memory)[:, -1] for the current
  segment and memory. The cache keeps each layer's input at the current segment's tokens, so a
  step runs the new token only; use_cache=False keeps the segment's tokens and the memory and
  re-runs forward over the segment every step. Both give the same logits (up to rounding).
- `start_decoding(batch_size)` is the empty state, for a search that feeds a first token (BOS)
  itself; `reorder_state` selects rows for beam search. States are never changed in place.

Shape legend (the repository's): B batch, T segment length, P prompt length, D model width,
L layers, V vocabulary; m memory length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.models.language_model_config import LMTransformerConfig
from seqlab.models.language_model_inputs import check_ids, check_step_tokens
from seqlab.models.language_model_transformer import initialise_gpt2
from seqlab.nn.relative_transformer import RelativeTransformerEncoder, next_memory

__all__ = ["TransformerXLLM", "TransformerXLState"]


@dataclass(frozen=True, eq=False)
class TransformerXLState:
    """What decode_step carries; decode_step returns a new state and never changes this one."""

    segment: Tensor  # (B, t) the current segment's tokens, t <= context
    memory: Tensor | None  # (L, B, m, D) the earlier segments' layer inputs; None: none yet
    segment_inputs: Tensor | None  # (L, B, t, D) the segment's layer inputs; None: no cache

    @property
    def batch_size(self) -> int:
        return self.segment.shape[0]


class TransformerXLLM(nn.Module):
    """Token embedding -> dropout -> relative-attention blocks with memory -> final LayerNorm
    -> the (tied) output projection (module docstring)."""

    def __init__(self, config: LMTransformerConfig, *, vocab_size: int) -> None:
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size ({vocab_size}) must be a positive integer")
        if config.positions != "relative":
            raise ValueError(
                f"TransformerXLLM needs model.positions 'relative', got {config.positions!r}"
            )
        self.config = config
        self.vocab_size = vocab_size
        self.context = config.context
        self.memory_length = config.memory_length
        self.restart_length = max(1, config.context // 2)  # M = 0 only (module docstring)
        self.token_embedding = nn.Embedding(vocab_size, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = RelativeTransformerEncoder.build(
            num_layers=config.num_layers,
            d_model=config.d_model,
            num_heads=config.num_heads,
            max_length=config.memory_length + config.context,
            dim_feedforward=config.feedforward_width,
            dropout=config.dropout,
            activation=config.activation,
            norm_first=config.norm_first,
            bias=config.bias,
            impl=config.impl,
            final_norm=config.norm_first,  # GPT-2's final LayerNorm after pre-norm blocks
        )
        self.output_projection = (
            None if config.tie_weights else nn.Linear(config.d_model, vocab_size, bias=False)
        )
        initialise_gpt2(self, self.blocks.layers, num_layers=config.num_layers)

    @property
    def output_weight(self) -> Tensor:
        """The output projection's matrix (V, D): the token embedding's own Parameter when tied."""
        if self.output_projection is None:
            return self.token_embedding.weight
        return self.output_projection.weight

    def _check_memory(self, memory: Tensor | None, batch_size: int) -> None:
        if memory is None:
            return
        expected = (self.config.num_layers, batch_size)
        if memory.dim() != 4 or memory.shape[:2] != expected:
            raise ValueError(
                f"memory must be (L, B, m, D) with L = {expected[0]} layers and B = "
                f"{batch_size} rows, got shape {tuple(memory.shape)}"
            )
        if memory.shape[2] > self.memory_length:
            raise ValueError(
                f"memory holds {memory.shape[2]} positions but model.memory_length is "
                f"{self.memory_length}"
            )

    def _read(self, ids: Tensor, memory: Tensor | None) -> tuple[Tensor, Tensor]:
        """(the final LayerNorm's output (B, T, D), each layer's input (L, B, T, D)) over ids
        (B, T) after the memory (L, B, m, D) or nothing."""
        x = self.dropout(self.token_embedding(ids))  # (B, T, D)
        out = self.blocks(x, memory=memory)
        return out.output, out.layer_inputs  # (B, T, D), (L, B, T, D)

    def _logits(self, hidden: Tensor) -> Tensor:
        return F.linear(hidden, self.output_weight)  # (..., V)

    def _next_memory(self, memory: Tensor | None, layer_inputs: Tensor) -> Tensor | None:
        if self.memory_length == 0:
            return None
        return next_memory(memory, layer_inputs, memory_length=self.memory_length)

    def forward(self, ids: Tensor, memory: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """ids (B, T), T <= context, after memory (L, B, m, D) or None -> (logits (B, T, V), the
        memory for the next segment (L, B, min(m + T, M), D), detached; None when M = 0)."""
        check_ids("ids", ids)
        if ids.shape[1] > self.context:
            raise ValueError(
                f"ids has {ids.shape[1]} tokens per row but model.context is {self.context}: "
                f"feed segments of at most {self.context}, carrying the memory between them"
            )
        self._check_memory(memory, ids.shape[0])
        hidden, layer_inputs = self._read(ids, memory)  # (B, T, D), (L, B, T, D)
        return self._logits(hidden), self._next_memory(memory, layer_inputs)  # (B, T, V)

    # ---- incremental decoding ----
    def _state_after(
        self, segment: Tensor, memory: Tensor | None, *, use_cache: bool
    ) -> tuple[Tensor, TransformerXLState]:
        """The logits (B, V) after the whole segment read after memory, and the state there."""
        hidden, layer_inputs = self._read(segment, memory)  # (B, t, D), (L, B, t, D)
        state = TransformerXLState(segment, memory, layer_inputs if use_cache else None)
        return self._logits(hidden[:, -1]), state  # (B, V)

    def start(
        self, prompt_ids: Tensor, *, use_cache: bool = True
    ) -> tuple[Tensor, TransformerXLState]:
        """Read the prompt (B, P); returns (logits (B, V) of the token after it, the state).
        With memory the whole prompt is read, segment by segment; without, its last `context`
        tokens."""
        check_ids("prompt_ids", prompt_ids)
        if self.memory_length == 0:
            return self._state_after(prompt_ids[:, -self.context :], None, use_cache=use_cache)
        memory = None
        last = (prompt_ids.shape[1] - 1) // self.context * self.context  # the last segment's start
        for first in range(0, last, self.context):
            segment = prompt_ids[:, first : first + self.context]  # (B, context)
            _, layer_inputs = self._read(segment, memory)  # (L, B, context, D)
            memory = self._next_memory(memory, layer_inputs)  # (L, B, m, D)
        return self._state_after(prompt_ids[:, last:], memory, use_cache=use_cache)

    def start_decoding(
        self, batch_size: int, *, use_cache: bool = True, device: torch.device | str | None = None
    ) -> TransformerXLState:
        """The empty state of batch_size rows: the state before a first decode_step (which
        feeds the first token, e.g. BOS, as seqlab.infer.decoding's searches do)."""
        if batch_size < 1:
            raise ValueError(f"batch_size ({batch_size}) must be a positive integer")
        weight = self.token_embedding.weight
        device = weight.device if device is None else device
        segment = torch.zeros(batch_size, 0, dtype=torch.long, device=device)  # (B, 0)
        inputs = None
        if use_cache:
            shape = (self.config.num_layers, batch_size, 0, self.config.d_model)
            inputs = torch.zeros(shape, dtype=weight.dtype, device=device)  # (L, B, 0, D)
        return TransformerXLState(segment, None, inputs)

    def _rolled(self, state: TransformerXLState) -> tuple[Tensor | None, Tensor | None]:
        """A full segment's (memory, layer inputs) for the next one to start from: the
        memory takes its layer inputs (recomputed without the cache)."""
        layer_inputs = state.segment_inputs
        if layer_inputs is None:
            _, layer_inputs = self._read(state.segment, state.memory)  # (L, B, context, D)
        memory = self._next_memory(state.memory, layer_inputs)  # (L, B, m, D)
        return memory, None if state.segment_inputs is None else layer_inputs[:, :, :0]

    def decode_step(
        self, tokens: Tensor, state: TransformerXLState
    ) -> tuple[Tensor, TransformerXLState]:
        """Feed tokens (B, 1), the next token of every row; returns (logits (B, V) of the token
        after it, the new state). A full segment rolls into the memory first (with M = 0: the
        window restarts; module docstring)."""
        check_step_tokens(tokens, state.batch_size)
        use_cache = state.segment_inputs is not None
        segment, memory, inputs = state.segment, state.memory, state.segment_inputs
        if segment.shape[1] == self.context:
            if self.memory_length == 0:
                window = torch.cat([segment, tokens], dim=1)[:, -self.restart_length :]
                return self._state_after(window, None, use_cache=use_cache)  # (B, V)
            memory, inputs = self._rolled(state)
            segment = segment[:, :0]  # (B, 0)
        segment = torch.cat([segment, tokens], dim=1)  # (B, t + 1)
        if inputs is None:
            return self._state_after(segment, memory, use_cache=False)  # (B, V)
        past = inputs if memory is None else torch.cat([memory, inputs], dim=2)  # (L, B, m+t, D)
        hidden, new_inputs = self._read(tokens, past)  # (B, 1, D), (L, B, 1, D)
        inputs = torch.cat([inputs, new_inputs], dim=2)  # (L, B, t + 1, D)
        return self._logits(hidden[:, -1]), TransformerXLState(segment, memory, inputs)

    def reorder_state(self, state: TransformerXLState, indices: Tensor) -> TransformerXLState:
        """Row b of the result is row indices[b] of state (indices (B',): beams select,
        duplicate and drop rows)."""
        memory, inputs = state.memory, state.segment_inputs
        return TransformerXLState(
            state.segment.index_select(0, indices),  # (B', t)
            None if memory is None else memory.index_select(1, indices),  # (L, B', m, D)
            None if inputs is None else inputs.index_select(1, indices),  # (L, B', t, D)
        )
