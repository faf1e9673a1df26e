"""Predicting sentiment with a trained model directory: labels and confidence scores.

The output of ``predict`` follows the Azure AI Language sentiment API's document shape: a
document label (``sentiment``) and ``confidenceScores`` with one probability per label (our
labels are the model's own, e.g. negative/positive for SST-2), so code written against that
API reads it unchanged.

``attention(text)`` shows what a Transformer classifier reads: the tokens it sees and every
layer's self-attention weights per head (Vaswani et al. 2017, sec. 3.2.1, eq. 1; read as in
Clark et al. 2019, "What Does BERT Look At?"), recorded on the reference path by
seqlab.nn.recorded_attention. A recurrent model has no attention and is refused.
"""

from __future__ import annotations

from typing import Any

import torch

from seqlab.data.batching import length_groups, pad_batch
from seqlab.errors import SeqlabError
from seqlab.infer import Predictor
from seqlab.infer.streaming import ClassifierStream, StreamableClassifier
from seqlab.nn.attention_maps import attention_modules, recorded_attention
from seqlab.tasks.sentiment.task import SentimentTask


class SentimentPredictor(Predictor[SentimentTask]):
    """``predict(texts)``, ``probabilities(texts)``, ``stream()`` and, for a Transformer,
    ``attention(text)`` over a sentiment model."""

    @property
    def labels(self) -> list[str]:
        return self.task_object.text_data.labels.to_list()

    @property
    def max_chars(self) -> int:
        """Only the first ``max_chars`` characters of a text are read (the model's
        ``data.max_chars``)."""
        return int(self.task_object.text_data.config.max_chars)

    @torch.inference_mode()  # no autograd bookkeeping at all: ~10% faster at batch 1
    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """(N, C) class probabilities, in the order of ``labels``."""
        if isinstance(texts, str):
            raise TypeError("predict takes a list of texts; wrap a single text in a list")
        empty = [index for index, text in enumerate(texts) if not text.strip()]
        if empty:
            raise ValueError(f"text {empty[0]} is empty; give each text at least one word")
        text_data = self.task_object.text_data
        encoded = text_data.encode(list(texts)).ids
        probabilities = torch.empty(len(encoded), len(self.labels))  # (N, C)
        # A Transformer computes every padded cell, so texts of similar length run together and
        # little of its work goes to padding; a recurrent model packs its batch (its cost follows
        # the real tokens), so one call serves it best. Each text's result is the same as alone
        # (padding is masked), in the order given.
        counts = [len(ids) for ids in encoded]
        groups = length_groups(counts) if self.has_attention else [list(range(len(encoded)))]
        for group in groups:
            batch = pad_batch([encoded[i] for i in group], pad_id=text_data.encoder.pad_id)
            ids, lengths = batch.ids.to(self.device), batch.lengths.to(self.device)
            logits = self.model(ids, lengths)  # (G, C)
            probabilities[group] = torch.softmax(logits.float(), dim=-1).cpu()
        return probabilities

    def stream(self) -> ClassifierStream:
        """A stream: ``push(text) -> StreamResult`` after each piece of text, ``reset()``."""
        text_data = self.task_object.text_data
        model = self.model
        if not isinstance(model, StreamableClassifier):
            raise SeqlabError(f"{type(model).__name__} in {self.model_dir} cannot stream")

        def tokenize(text: str) -> list[int]:
            return text_data.encoder.tokenizer.encode(text, add_special_tokens=False).ids

        return ClassifierStream(
            model=model,
            tokenize=tokenize,
            prefix_ids=[text_data.encoder.cls_id] if text_data.add_cls else [],
            labels=self.labels,
            max_length=text_data.config.max_length,
            max_chars=text_data.config.max_chars,
            classify_text=lambda text: self.probabilities([text])[0],
        )

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """One result per text: ``{"id", "sentiment", "confidenceScores": {label: p}}``."""
        probabilities = self.probabilities(texts)
        labels = self.labels
        return [
            {"id": str(index), **_labelled(row, labels)}
            for index, row in enumerate(probabilities.tolist())
        ]

    # ---- attention maps (Transformer models) ----
    @property
    def has_attention(self) -> bool:
        """True for a Transformer (families transformer and minilm), False for a recurrent one."""
        return bool(attention_modules(self.model))

    @torch.inference_mode()
    def attention(self, text: str, *, max_tokens: int | None = None) -> dict[str, Any]:
        """What a Transformer classifier attends to while it reads ``text``.

        Returns ``{"tokens", "truncated", "layers", "sentiment", "confidenceScores"}``:
        ``tokens`` as the model reads them (special tokens such as [CLS] included, after the
        model's ``max_chars`` and ``max_length`` cuts, which ``truncated`` reports); ``layers``
        one ``{"name", "heads"}`` per self-attention layer, first to last, where ``heads[h][i][j]``
        is the weight token i gives token j in head h (each row sums to 1); and the prediction
        of the same forward pass. The weights come from the reference path, which computes the
        fused path's function to float rounding. ``max_tokens``: refuse a text the model would
        read as more tokens (the maps grow as tokens squared), before the model runs.
        """
        family = self.config.get("model", {}).get("family", "?")
        if not self.has_attention:
            raise SeqlabError(
                f"the {family} model in {self.model_dir} has no attention: it is a recurrent "
                "model; attention maps need a Transformer (model family transformer or minilm)"
            )
        if not isinstance(text, str):
            raise TypeError(f"attention takes one text (a str), not a {type(text).__name__}")
        if not text.strip():
            raise ValueError("the text is empty; give it at least one word")
        text_data = self.task_object.text_data
        encoded = text_data.encode([text])
        ids = encoded.ids[0]
        if max_tokens is not None and len(ids) > max_tokens:
            raise SeqlabError(
                f"the text reads as {len(ids)} tokens, more than {max_tokens}; attention maps "
                "grow as tokens squared: give a shorter text"
            )
        vocabulary = text_data.encoder.tokenizer
        tokens = [vocabulary.id_to_token(token_id) or "?" for token_id in ids]
        ids_tensor = torch.tensor([ids], device=self.device)  # (1, T)
        lengths = torch.tensor([len(ids)], device=self.device)  # (1,)
        with recorded_attention(self.model) as records:
            logits = self.model(ids_tensor, lengths)  # (1, C)
        probabilities = torch.softmax(logits.float(), dim=-1)[0].cpu().tolist()  # (C,)
        layers = [
            {"name": name, "heads": weights[0].cpu().tolist()}  # (H, T, T) of batch row 0
            for name, weights in records
        ]
        truncated = encoded.truncated > 0 or len(text) > self.max_chars
        return {
            "tokens": tokens,
            "truncated": truncated,
            "layers": layers,
            **_labelled(probabilities, self.labels),
        }


def _labelled(row: list[float], labels: list[str]) -> dict[str, Any]:
    """``{"sentiment", "confidenceScores"}`` of one row of probabilities over ``labels``."""
    best = max(range(len(labels)), key=row.__getitem__)
    scores = {label: round(p, 6) for label, p in zip(labels, row, strict=True)}
    return {"sentiment": labels[best], "confidenceScores": scores}
