"""The recurrent (Elman RNN, LSTM, GRU) language model, wired from seqlab.nn's layers.

References:
- Zaremba, Sutskever and Vinyals 2014, "Recurrent Neural Network Regularization": embeddings ->
  stacked LSTM -> softmax, with dropout on the non-recurrent connections only: on the
  embeddings, between layers (the layer's own dropout) and on the top layer's output. They
  draw every weight from U(-0.1, 0.1) in their small model (+-0.05 medium, +-0.04 large); here,
  as in Merity et al. 2018 and PyTorch's word_language_model, the embedding and the output
  matrix are U(-0.1, 0.1) and the recurrent layers keep torch's U(+-1/sqrt(hidden_size)) with
  init "standard" (the config's init and recurrent_init choose otherwise).
- Merity, Keskar and Socher 2018, "Regularizing and Optimizing LSTM Language Models": the tied
  output projection (Press and Wolf 2017) with its own bias, and the state carried across
  segments. Their weight-dropped LSTM, variational dropout and averaged SGD are not used.
- Williams and Peng 1990: truncated BPTT. forward(ids, state) -> (logits, state) continues from
  `state`, so a long stream is read in segments; the task detaches the state between segments,
  which truncates the gradient while the forward computation stays that of the whole stream.

forward(ids (B, T), state=None) -> (logits (B, T, V), state): position t predicts token t + 1
from everything read so far; never a loss. The recurrent layer's state is (L, B, hidden_size),
or the pair (h, c) for the LSTM (torch's layout, seqlab.nn.recurrent).

Incremental decoding: `start(prompt_ids (B, P))` reads the prompt and returns the logits of the
token after it; `decode_step(tokens (B, 1), state)` advances every row by one token at a
constant cost, the recurrent state being all the past it needs (no context limit).
use_cache=False keeps the tokens instead and re-reads the whole prefix from the zero state at
every step (slower; it checks that the carried state is the prefix's). `start_decoding` is the
zero state, for a search that feeds the first token itself; `reorder_state` selects rows.

Shape legend (the repository's): B batch, T time length, P prompt length, L layers,
V vocabulary; widths are written out (hidden_size, embed_dim).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.models.backbones import RecurrentBackbone
from seqlab.models.config import RecurrentConfig
from seqlab.models.language_model_config import LMRecurrentConfig
from seqlab.models.language_model_inputs import check_ids, check_step_tokens
from seqlab.nn.recurrent_checks import State, select_state_rows

__all__ = ["RecurrentLM", "RecurrentLMState"]

_INIT_RANGE = 0.1  # embedding and output weights uniform in [-0.1, 0.1] (module docstring)


@dataclass(frozen=True, eq=False)
class RecurrentLMState:
    """What decode_step carries; decode_step returns a new state and never changes this one.

    Exactly one of the two is set: the recurrent state after every token so far (the cache),
    or, with use_cache=False, the tokens themselves.
    """

    hidden: State | None  # (L, B, hidden_size), (h, c) for the LSTM; None: use_cache=False
    prefix: Tensor | None  # (B, t) every token fed so far; None with the cache

    @property
    def batch_size(self) -> int:
        if self.prefix is not None:
            return self.prefix.shape[0]
        h = self.hidden[0] if isinstance(self.hidden, tuple) else self.hidden
        assert h is not None  # one of the two is always set
        return h.shape[1]


def _backbone_config(config: LMRecurrentConfig) -> RecurrentConfig:
    """The recurrent stack's share of the config, in the form seqlab.models.backbones and
    seqlab.models.init read (one initialisation for every task's recurrent layers)."""
    return RecurrentConfig(
        family=config.family,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        dropout=config.dropout,
        nonlinearity=config.nonlinearity,
        init=config.init,
        recurrent_init=config.recurrent_init,
        chrono_max_steps=config.chrono_max_steps,
        impl=config.impl,
    )


class RecurrentLM(nn.Module):
    """Embedding -> dropout -> RNN/LSTM/GRU stack -> dropout -> the (tied) output projection."""

    def __init__(self, config: LMRecurrentConfig, *, vocab_size: int) -> None:
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size ({vocab_size}) must be a positive integer")
        self.config = config
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, config.token_width)
        self.dropout = nn.Dropout(config.dropout)
        self.backbone = RecurrentBackbone(
            _backbone_config(config),
            input_size=config.token_width,
            # chrono's T_max is the config's chrono_max_steps (required with it), never this.
            expected_length=config.chrono_max_steps or 0,
        )
        self.output_projection = (
            None if config.tie_weights else nn.Linear(config.hidden_size, vocab_size, bias=False)
        )
        # Tied or not, the output keeps a bias of its own: the unigram distribution's logits.
        self.output_bias = nn.Parameter(torch.zeros(vocab_size))
        with torch.no_grad():
            nn.init.uniform_(self.embedding.weight, -_INIT_RANGE, _INIT_RANGE)
            if self.output_projection is not None:
                nn.init.uniform_(self.output_projection.weight, -_INIT_RANGE, _INIT_RANGE)

    @property
    def output_weight(self) -> Tensor:
        """The output projection's matrix (V, hidden_size): the embedding's Parameter when tied."""
        if self.output_projection is None:
            return self.embedding.weight
        return self.output_projection.weight

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """ids (B, T) read after `state` (zeros when None) -> (logits (B, T, V), the state after
        the last token). Feeding the returned state to the next call continues the stream."""
        check_ids("ids", ids)
        x = self.dropout(self.embedding(ids))  # (B, T, embed_dim)
        outputs, state = self.backbone(x, state=state)  # (B, T, hidden_size)
        logits = F.linear(self.dropout(outputs), self.output_weight, self.output_bias)
        return logits, state  # (B, T, V)

    # ---- incremental decoding ----
    def start(
        self, prompt_ids: Tensor, *, use_cache: bool = True
    ) -> tuple[Tensor, RecurrentLMState]:
        """Read the prompt (B, P) from the zero state; returns (logits (B, V) of the token after
        it, the state). Any prompt length: the state summarises it."""
        check_ids("prompt_ids", prompt_ids)
        logits, hidden = self(prompt_ids)  # (B, P, V)
        state = RecurrentLMState(hidden, None) if use_cache else RecurrentLMState(None, prompt_ids)
        return logits[:, -1], state  # (B, V)

    def start_decoding(
        self, batch_size: int, *, use_cache: bool = True, device: torch.device | str | None = None
    ) -> RecurrentLMState:
        """The zero state of batch_size rows: the state before a first decode_step (which feeds
        the first token, e.g. BOS, as seqlab.infer.decoding's searches do)."""
        if batch_size < 1:
            raise ValueError(f"batch_size ({batch_size}) must be a positive integer")
        device = self.embedding.weight.device if device is None else device
        if use_cache:
            zeros = self.backbone.rnn.initial_state(batch_size, device=device)  # (L, B, hidden)
            return RecurrentLMState(zeros, None)
        prefix = torch.zeros(batch_size, 0, dtype=torch.long, device=device)  # (B, 0)
        return RecurrentLMState(None, prefix)

    def decode_step(
        self, tokens: Tensor, state: RecurrentLMState
    ) -> tuple[Tensor, RecurrentLMState]:
        """Feed tokens (B, 1), the next token of every row; returns (logits (B, V) of the token
        after it, the new state)."""
        check_step_tokens(tokens, state.batch_size)
        if state.prefix is None:
            logits, hidden = self(tokens, state.hidden)  # (B, 1, V)
            return logits[:, -1], RecurrentLMState(hidden, None)  # (B, V)
        prefix = torch.cat([state.prefix, tokens], dim=1)  # (B, t + 1)
        logits, _ = self(prefix)  # (B, t + 1, V) from the zero state
        return logits[:, -1], RecurrentLMState(None, prefix)  # (B, V)

    def reorder_state(self, state: RecurrentLMState, indices: Tensor) -> RecurrentLMState:
        """Row b of the result is row indices[b] of state (indices (B',): beams select, duplicate
        and drop rows)."""
        hidden = None if state.hidden is None else select_state_rows(state.hidden, indices)
        prefix = None if state.prefix is None else state.prefix.index_select(0, indices)
        return RecurrentLMState(hidden, prefix)  # (L, B', hidden_size), (B', t)
