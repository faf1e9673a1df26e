"""Language models: the interface both families share, and the builder.

The two networks (seqlab.models.language_model_transformer, GPT-style after Radford et al. 2018
and 2019 and nanoGPT; seqlab.models.language_model_recurrent, after Zaremba et al. 2014 and
Merity et al. 2018) answer the same decoding calls, `LanguageModel` below, so a task generates
text the same way from both, and seqlab.infer.decoding's searches (which read only
`decode_step` and `reorder_state`) run on either. Their forward calls differ where the
families do: the Transformer reads a window of at most `context` tokens and carries nothing
between calls; the recurrent model carries its state from one segment to the next (truncated
BPTT, Williams and Peng 1990). A Transformer config with positions "relative" builds
seqlab.models.language_model_xl's TransformerXLLM (Dai et al. 2019), whose forward takes and
returns a memory as the recurrent model's does its state (None and unused when its
memory_length is 0).

Shape legend (the repository's): B batch, T time length, P prompt length, V vocabulary.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from seqlab.models.language_model_config import LMConfig, LMRecurrentConfig, LMTransformerConfig
from seqlab.models.language_model_recurrent import RecurrentLM, RecurrentLMState
from seqlab.models.language_model_transformer import TransformerLM, TransformerLMState
from seqlab.models.language_model_xl import TransformerXLLM, TransformerXLState

__all__ = [
    "LanguageModel",
    "RecurrentLM",
    "RecurrentLMState",
    "TransformerLM",
    "TransformerLMState",
    "TransformerXLLM",
    "TransformerXLState",
    "build_language_model",
]


class LanguageModel(Protocol):
    """What a language-model task and the searches call, whatever the family."""

    vocab_size: int

    def start(self, prompt_ids: Tensor, *, use_cache: bool = True) -> tuple[Tensor, Any]:
        """Read prompts (B, P) -> (logits (B, V) of the token after each, the state)."""
        ...

    def start_decoding(
        self, batch_size: int, *, use_cache: bool = True, device: torch.device | str | None = None
    ) -> Any:
        """The state before anything is read (a search then feeds the first token)."""
        ...

    def decode_step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """tokens (B, 1) -> (logits (B, V) of the next token, the new state)."""
        ...

    def reorder_state(self, state: Any, indices: Tensor) -> Any:
        """Row b of the result is row indices[b] (B',) of the state."""
        ...


def build_language_model(
    config: LMConfig, *, vocab_size: int
) -> TransformerLM | TransformerXLLM | RecurrentLM:
    """The network the config names (its family, and a Transformer's positions), over a
    vocabulary of vocab_size tokens."""
    if isinstance(config, LMTransformerConfig):
        if config.positions == "relative":
            return TransformerXLLM(config, vocab_size=vocab_size)
        return TransformerLM(config, vocab_size=vocab_size)
    if isinstance(config, LMRecurrentConfig):
        return RecurrentLM(config, vocab_size=vocab_size)
    raise TypeError(
        f"build_language_model takes an LMTransformerConfig or LMRecurrentConfig, got "
        f"{type(config).__name__}"
    )
