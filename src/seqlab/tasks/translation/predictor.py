"""Translating with a trained model directory: sentences, documents of any length, and the
attention alignment of one sentence.

``translate(texts)`` gives one translation per text. A text of more subwords than the model
trained on (``data.max_length``) goes through seqlab.infer.long_documents: split at sentence
boundaries into windows under that budget, each with the sentence before it as context, and
stitched back, so no text is cut, and nothing is lost, repeated or reordered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch

from seqlab.data.subwords import SubwordTokenizer
from seqlab.errors import SeqlabError
from seqlab.infer import Predictor
from seqlab.infer.long_documents import TranslatedDocument
from seqlab.models.seq2seq import Seq2SeqModel
from seqlab.tasks.translation.decode import translate_ids
from seqlab.tasks.translation.task import TranslationTask, search_settings


@dataclass(frozen=True)
class Alignment:
    """Where the decoder looked: ``weights[t][s]`` is the attention the step that produced
    target subword t paid to source subword s (each row sums to 1). ``target_tokens`` end with
    the end of sentence ``</s>``, ``source_tokens`` too (the encoder reads it)."""

    source_tokens: list[str]
    target_tokens: list[str]
    weights: list[list[float]]
    translation: str


class TranslationPredictor(Predictor[TranslationTask]):
    """``translate(texts)``, ``translate_document(text)`` and ``alignment(text)``."""

    @property
    def beam_size(self) -> int:
        """The beam size used when none is given (the model's ``data.beam_size``)."""
        return int(self.task_object.data.beam_size)

    @property
    def max_tokens(self) -> int:
        """The most subwords one piece of text is translated as (``data.max_length``)."""
        return int(self.task_object.data.max_length)

    def _check_texts(self, texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("translate takes a list of texts; wrap a single text in a list")
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {index} is a {type(text).__name__}, not a str")
            if not text.strip():
                raise ValueError(f"text {index} is empty; give each text at least one word")
        return list(texts)

    @torch.inference_mode()
    def translate(self, texts: Sequence[str], *, beam_size: int | None = None) -> list[str]:
        """One translation per text, in order; beam_size 1 is greedy search. A text of more
        than ``max_tokens`` subwords is translated as a document (``translate_document``)."""
        chosen = self.beam_size if beam_size is None else _checked_beam(beam_size)
        return self.task_object.translate_texts(
            self.model, self._check_texts(texts), beam_size=chosen
        )

    @torch.inference_mode()
    def translate_document(
        self, text: str, *, beam_size: int | None = None, context_sentences: int = 1
    ) -> TranslatedDocument:
        """A text of any length, split at sentence boundaries into windows of at most
        ``max_tokens`` subwords with ``context_sentences`` sentences of context each, translated
        and stitched (``.text``; ``.notes()`` names sentences that had to be cut)."""
        chosen = self.beam_size if beam_size is None else _checked_beam(beam_size)
        if not isinstance(text, str):
            raise TypeError(f"translate_document takes a str, not a {type(text).__name__}")
        if not text.strip():
            raise ValueError("the document is empty; give it at least one word")
        return self.task_object.translate_document(
            self.model, text, beam_size=chosen, context_sentences=context_sentences
        )

    @torch.inference_mode()
    def alignment(self, text: str, *, beam_size: int | None = None) -> Alignment:
        """Translate ``text`` (one sentence) and return the decoder's attention over its source
        while producing that translation: for a Transformer, the last decoder layer's
        cross-attention averaged over heads; for a recurrent model, its attention weights."""
        (text,) = self._check_texts([text])
        task = self.task_object
        source_tokenizer, target = task.tokenizers.source, task.tokenizers.target
        if source_tokenizer.count_tokens(text) > self.max_tokens:
            raise SeqlabError(
                f"the sentence has more than {self.max_tokens} subwords; an alignment is drawn "
                "for one sentence: give a shorter one"
            )
        chosen = self.beam_size if beam_size is None else _checked_beam(beam_size)
        (source_ids,) = task.corpus.source_ids([text])
        (hypothesis,) = translate_ids(
            self.model,
            [source_ids],
            search_settings(task.data, beam_size=chosen),
            bos_id=target.bos_id,
            eos_id=target.eos_id,
            pad_id=target.pad_id,
        )
        output = [*hypothesis.tokens, target.eos_id]
        device = self.device
        weights = cast(Seq2SeqModel, self.model).alignment(
            torch.tensor([source_ids], device=device),
            torch.tensor([len(source_ids)], device=device),
            torch.tensor([[target.bos_id, *output[:-1]]], device=device),
            torch.tensor([len(output)], device=device),
        )[0]  # (T, S)
        return Alignment(
            source_tokens=[*_pieces(source_tokenizer, source_ids[:-1]), "</s>"],
            target_tokens=[*_pieces(target, hypothesis.tokens), "</s>"],
            weights=weights.float().cpu().tolist(),
            translation=target.decode(hypothesis.tokens),
        )


def _pieces(tokenizer: SubwordTokenizer, ids: Sequence[int]) -> list[str]:
    """Each subword of ``ids`` as readable text, a word's first subword marked with a leading
    ``▁`` (decoding one subword alone drops the space the byte-level symbol ``Ġ`` stands for)."""
    pieces = []
    for token_id in ids:
        raw = tokenizer.tokenizer.id_to_token(int(token_id)) or ""
        start = "▁" if raw.startswith("Ġ") else ""
        pieces.append(start + (tokenizer.decode([token_id]) or "·"))
    return pieces


def _checked_beam(beam_size: int) -> int:
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size ({beam_size!r}) must be a positive int (1: greedy search)")
    return beam_size
