"""Generating text with a trained language-model directory.

``generate(prompt)`` continues the prompt: the model reads it (a prompt longer than a
Transformer's context keeps its last ``context`` tokens; a Transformer with memory reads it whole,
one segment at a time), then each new token is drawn by seqlab.infer.sampling (temperature,
top-k, top-p, a seed) and fed back, through the key/value cache of a Transformer, the segment
and memory of a Transformer with memory, or the carried state of a recurrent model. An empty
prompt starts from a line break, as nanoGPT's sampler does. Ids that are never a training
target (a character vocabulary's unknown symbol, BPE's special tokens) are never drawn.
``stream=True`` gives the new text piece by piece as it is produced: a piece is held back while
it ends in part of a character (a byte-level BPE token can split one), so no piece ever shows a
half character.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, cast, overload

import torch

from seqlab.data.lm_vocabulary import BPEVocabulary, CharVocabulary
from seqlab.infer import Predictor
from seqlab.infer.sampling import SamplingSettings, stream_tokens
from seqlab.models.language_model import LanguageModel
from seqlab.tasks.lm.task import LanguageModelTask

_REPLACEMENT = "\ufffd"  # what the decoder gives for an incomplete UTF-8 sequence


class LanguageModelPredictor(Predictor[LanguageModelTask]):
    """``generate(prompt, ...)``, ``generate_ids(prompt, ...)`` and ``decode(ids)``."""

    @property
    def vocabulary(self) -> CharVocabulary | BPEVocabulary:
        vocabulary = self.task_object.text_data.vocabulary
        assert isinstance(vocabulary, CharVocabulary | BPEVocabulary)
        return vocabulary

    def _prompt_ids(self, prompt: str) -> list[int]:
        if not isinstance(prompt, str):
            raise TypeError(f"the prompt must be a str, not a {type(prompt).__name__}")
        vocabulary = self.vocabulary
        ids = vocabulary.encode(prompt) if prompt else []
        if ids:
            return list(ids)
        if isinstance(vocabulary, BPEVocabulary):
            newline = vocabulary.tokenizer.tokenizer.token_to_id("Ċ")  # GPT-2's byte symbol
            return [int(newline)] if newline is not None else [vocabulary.tokenizer.bos_id]
        return list(vocabulary.encode("\n")) or [0]

    def _never_drawn(self) -> list[int]:
        """Ids that are never a training target, so never generated: a character vocabulary's
        unknown symbol; byte-level BPE's pad, unknown, BOS and EOS."""
        vocabulary = self.vocabulary
        if isinstance(vocabulary, BPEVocabulary):
            tokenizer = vocabulary.tokenizer
            return [tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id]
        return [0]

    def generate_ids(
        self,
        prompt: str = "",
        *,
        max_new_tokens: int = 500,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> Iterator[int]:
        """The new token ids, one at a time as each is drawn. The settings, the prompt and
        max_new_tokens are checked here (by stream_tokens too), before the first token is
        asked for."""
        settings = SamplingSettings(temperature=temperature, top_k=top_k, top_p=top_p)
        device = self.device
        generator = torch.Generator(device=device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        prompt_ids = torch.tensor([self._prompt_ids(prompt)], device=device)  # (1, P)
        model = cast(LanguageModel, self.model)
        with torch.inference_mode():
            logits, state = model.start(prompt_ids, use_cache=True)  # (1, V)
        return stream_tokens(
            model,
            state,
            logits,
            max_new_tokens=max_new_tokens,
            settings=settings,
            generator=generator,
            forbidden=self._never_drawn(),
        )

    def decode(self, ids: list[int]) -> str:
        return self.vocabulary.decode(ids)

    @overload
    def generate(
        self, prompt: str = ..., *, stream: Literal[False] = ..., **options: object
    ) -> str: ...

    @overload
    def generate(
        self, prompt: str = ..., *, stream: Literal[True], **options: object
    ) -> Iterator[str]: ...

    def generate(
        self, prompt: str = "", *, stream: bool = False, **options: object
    ) -> str | Iterator[str]:
        """The text that follows ``prompt`` (without the prompt). Options: max_new_tokens
        (500), temperature (1.0; 0 is greedy), top_k, top_p, seed. ``stream=True``: an iterator
        of the new text's pieces as they are produced."""
        pieces = self.pieces(self.generate_ids(prompt, **options))  # type: ignore[arg-type]
        return pieces if stream else "".join(pieces)

    def pieces(self, ids: Iterator[int]) -> Iterator[str]:
        """The text of generated ``ids`` as pieces, each yielded as soon as it is whole: a
        byte-level token that ends inside a character is held until the character completes."""
        generated: list[int] = []
        shown = 0
        text = ""
        # Only byte-level tokens can end inside a character; a character vocabulary's U+FFFD
        # is a character of its own.
        splits_characters = isinstance(self.vocabulary, BPEVocabulary)
        for token in ids:
            generated.append(token)
            text = self.decode(generated)
            held = splits_characters and text.endswith(_REPLACEMENT)
            ready = len(text.rstrip(_REPLACEMENT)) if held else len(text)
            if ready > shown:
                yield text[shown:ready]
                shown = ready
        if len(text) > shown:
            yield text[shown:]
