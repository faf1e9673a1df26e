"""The decoder-only (GPT-style) Transformer language model, wired from seqlab.nn's blocks.

References:
- Radford et al. 2018 (GPT) and 2019 (GPT-2): token embedding + learned position embedding ->
  dropout -> L pre-norm blocks of masked self-attention and a GELU feed-forward network -> a
  final LayerNorm -> logits through the token embedding's transpose (tied). GPT-2's
  initialisation: every Linear and embedding N(0, 0.02^2), biases zero, and the two residual
  projections of each block (attention's W^O, the feed-forward's second Linear)
  N(0, (0.02 / sqrt(2 L))^2) so the residual stream's variance does not grow with depth.
- Karpathy, nanoGPT `model.py`: the same model; LMTransformerConfig's defaults are its
  Shakespeare-char configuration. The blocks are seqlab.nn.TransformerEncoderLayer with
  causal=True (one attention, written once, in seqlab.nn.attention). One deviation from nanoGPT,
  from seqlab's layer (torch.nn's layout): dropout also acts inside the feed-forward network,
  between the activation and the second Linear; nanoGPT has dropout only after it.
- Press and Wolf 2017: tie_weights makes the token embedding the output projection.

forward(ids (B, T)) -> logits (B, T, V): position t predicts token t + 1 from ids[:, :t+1] only;
T is at most `context` (the position table's length); never a loss.

Incremental decoding, and the context policy (the same with and without the cache):
- `start(prompt_ids (B, P))` reads the prompt and returns the logits of the token after it. A
  prompt longer than the context keeps its last `context` tokens (the window).
- `decode_step(tokens (B, 1), state)` appends one token per row to the window. When the window
  would exceed `context`, it restarts from its last `max(1, context // 2)` tokens (the new one
  included), and their keys and values are recomputed in one forward: the cost of a restart is
  spread over the context // 2 cheap steps until the next one.
- The logits of every call are those of `forward(window)[:, -1]`, where the window follows the
  rule above. With the cache (each layer's keys and values, seqlab.nn.TransformerCache) a step
  runs the new token only; use_cache=False re-runs forward over the window every step. Both
  therefore give the same tokens and logits (up to rounding) at every step, before and after
  the context is full.
- `start_decoding(batch_size)` is the empty window, for a search that feeds a first token (BOS)
  itself; `reorder_state` selects rows for beam search.

Shape legend (the repository's): B batch, T time (target) length, P prompt length, D model
width, H heads, L layers, V vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.models.language_model_config import LMTransformerConfig
from seqlab.models.language_model_inputs import check_ids, check_step_tokens
from seqlab.nn.attention import MultiHeadAttention
from seqlab.nn.positions import LearnedPositions
from seqlab.nn.transformer import TransformerCache, TransformerEncoder

__all__ = ["TransformerLM", "TransformerLMState", "initialise_gpt2"]

_INIT_STD = 0.02  # GPT-2's (and nanoGPT's) initialisation scale


@torch.no_grad()
def initialise_gpt2(model: nn.Module, layers: Iterable[nn.Module], *, num_layers: int) -> None:
    """GPT-2's initialisation (module docstring) of every Linear, Embedding and attention
    projection in `model`, then the residual projections (`self_attn.out_proj`, `linear2`) of
    each of `layers` at 0.02 / sqrt(2 num_layers). Shared by the language models whose blocks
    follow seqlab.nn.transformer's layout."""
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=_INIT_STD)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, MultiHeadAttention):
            nn.init.normal_(module.in_proj_weight, std=_INIT_STD)  # W^Q, W^K, W^V
            if module.in_proj_bias is not None:
                nn.init.zeros_(module.in_proj_bias)
    residual_std = _INIT_STD / math.sqrt(2 * num_layers)
    for layer in layers:
        for name in ("self_attn.out_proj", "linear2"):  # attention's W^O, the FFN's second Linear
            residual = cast(nn.Linear, layer.get_submodule(name))
            nn.init.normal_(residual.weight, std=residual_std)


@dataclass(eq=False)
class TransformerLMState:
    """What decode_step carries: the current window and, with the cache, its keys and values.

    The cache is updated in place by decode_step, so a state must not be used again after it was
    passed on (the IncrementalDecoder rule); reorder_state returns a state whose rows are
    selected.
    """

    window: Tensor  # (B, w) the tokens the next step attends to, w <= context
    cache: TransformerCache | None  # the window's keys/values per layer; None: use_cache=False

    @property
    def batch_size(self) -> int:
        return self.window.shape[0]


class TransformerLM(nn.Module):
    """Token embedding + learned positions -> dropout -> causal pre-norm Transformer blocks ->
    final LayerNorm -> the (tied) output projection."""

    def __init__(self, config: LMTransformerConfig, *, vocab_size: int) -> None:
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size ({vocab_size}) must be a positive integer")
        self.config = config
        self.vocab_size = vocab_size
        self.context = config.context
        # The restart keeps at least one token, so a context of 1 still decodes (memorylessly).
        self.restart_length = max(1, config.context // 2)
        self.token_embedding = nn.Embedding(vocab_size, config.d_model)
        self.positions = LearnedPositions(config.context, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = TransformerEncoder.build(
            num_layers=config.num_layers,
            d_model=config.d_model,
            num_heads=config.num_heads,
            dim_feedforward=config.feedforward_width,
            dropout=config.dropout,
            activation=config.activation,
            norm_first=config.norm_first,
            bias=config.bias,
            impl=config.impl,
            window=config.window,
            final_norm=config.norm_first,  # GPT-2's final LayerNorm after pre-norm blocks
        )
        self.output_projection = (
            None if config.tie_weights else nn.Linear(config.d_model, vocab_size, bias=False)
        )
        self._initialise_gpt2()

    def _initialise_gpt2(self) -> None:
        """GPT-2's initialisation (module docstring); LayerNorms keep gain 1 and bias 0. The
        position table starts at N(0, 0.02^2) already (seqlab.nn.LearnedPositions)."""
        initialise_gpt2(self, self.blocks.layers, num_layers=self.config.num_layers)

    @property
    def output_weight(self) -> Tensor:
        """The output projection's matrix (V, D): the token embedding's own Parameter when tied."""
        if self.output_projection is None:
            return self.token_embedding.weight
        return self.output_projection.weight

    def _hidden(self, ids: Tensor, cache: TransformerCache | None = None) -> Tensor:
        """The final LayerNorm's output (B, T, D) over ids (B, T), placed after the cache's
        positions when given (which the caller keeps within the context)."""
        offset = 0 if cache is None else cache.offset
        positions = self.positions(ids.shape[1], offset=offset)  # (T, D)
        x = self.dropout(self.token_embedding(ids) + positions)  # (B, T, D)
        return self.blocks(x, causal=True, cache=cache).output  # (B, T, D)

    def _logits(self, hidden: Tensor) -> Tensor:
        return F.linear(hidden, self.output_weight)  # (..., V)

    def forward(self, ids: Tensor) -> Tensor:
        """ids (B, T), T <= context -> logits (B, T, V); row t sees ids[:, :t+1] only."""
        check_ids("ids", ids)
        if ids.shape[1] > self.context:
            raise ValueError(
                f"ids has {ids.shape[1]} tokens per row but model.context is {self.context}: "
                f"feed at most {self.context} (start() keeps a prompt's last {self.context})"
            )
        return self._logits(self._hidden(ids))  # (B, T, V)

    # ---- incremental decoding ----
    def _read_window(self, window: Tensor, *, use_cache: bool) -> tuple[Tensor, TransformerLMState]:
        """The logits (B, V) after the whole window, and the state holding it (a fresh cache
        filled with its keys and values in one forward)."""
        cache = self.blocks.new_cache() if use_cache else None
        hidden = self._hidden(window, cache)  # (B, w, D)
        return self._logits(hidden[:, -1]), TransformerLMState(window, cache)  # (B, V)

    def start(
        self, prompt_ids: Tensor, *, use_cache: bool = True
    ) -> tuple[Tensor, TransformerLMState]:
        """Read the prompt (B, P); returns (logits (B, V) of the token after it, the state).
        A prompt longer than the context keeps its last `context` tokens."""
        check_ids("prompt_ids", prompt_ids)
        return self._read_window(prompt_ids[:, -self.context :], use_cache=use_cache)  # (B, w)

    def start_decoding(
        self, batch_size: int, *, use_cache: bool = True, device: torch.device | str | None = None
    ) -> TransformerLMState:
        """The empty window of batch_size rows: the state before a first decode_step (which
        feeds the first token, e.g. BOS, as seqlab.infer.decoding's searches do)."""
        if batch_size < 1:
            raise ValueError(f"batch_size ({batch_size}) must be a positive integer")
        device = self.token_embedding.weight.device if device is None else device
        window = torch.zeros(batch_size, 0, dtype=torch.long, device=device)  # (B, 0)
        return TransformerLMState(window, self.blocks.new_cache() if use_cache else None)

    def decode_step(
        self, tokens: Tensor, state: TransformerLMState
    ) -> tuple[Tensor, TransformerLMState]:
        """Feed tokens (B, 1), the next token of every row; returns (logits (B, V) of the token
        after it, the new state). The window restarts when full (module docstring)."""
        check_step_tokens(tokens, state.batch_size)
        window = torch.cat([state.window, tokens], dim=1)  # (B, w + 1)
        restarts = window.shape[1] > self.context
        if restarts:
            window = window[:, -self.restart_length :]  # (B, restart_length)
        if state.cache is None or restarts:
            return self._read_window(window, use_cache=state.cache is not None)
        hidden = self._hidden(tokens, state.cache)  # (B, 1, D) attending over the cached window
        return self._logits(hidden[:, -1]), TransformerLMState(window, state.cache)  # (B, V)

    def reorder_state(self, state: TransformerLMState, indices: Tensor) -> TransformerLMState:
        """Row b of the result is row indices[b] of state (indices (B',): beams select, duplicate
        and drop rows). The cache is reordered in place and shared with the result."""
        if state.cache is not None:
            state.cache.reorder(indices)
        return TransformerLMState(state.window.index_select(0, indices), state.cache)  # (B', w)
