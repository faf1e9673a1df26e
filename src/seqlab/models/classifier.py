"""Sequence classifiers: token embeddings, a recurrent or Transformer backbone, pooling, a head.

- Recurrent (Kim-style baselines aside, the classic BiLSTM classifier: Graves and Schmidhuber,
  2005; Tai et al., 2015 report 87.5 on SST-2 with GloVe vectors): embedding -> (bi)directional
  RNN/LSTM/GRU over the true lengths -> last state, mean or max pooling -> MLP head.
- Transformer encoder from scratch (Devlin et al., 2019, without pre-training): embedding scaled
  by sqrt(d_model) (Vaswani et al., 2017, sec. 3.4) plus positions -> encoder with a padding mask
  -> [CLS] or mean pooling -> MLP head.
The pretrained MiniLM classifier lives in models/pretrained.py beside its converter.

forward(ids (B, T), lengths (B,)) -> logits (B, C). Pooling math is seqlab.nn.pooling's.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from seqlab.models.backbones import RecurrentBackbone, TransformerBackbone
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.nn import padding_mask
from seqlab.nn.pooling import first_position, last_state, masked_max, masked_mean


class ClassifierHead(nn.Module):
    """Dropout -> Linear -> tanh -> dropout -> Linear: a one-hidden-layer MLP over a pooled vector
    (BERT's pooler-plus-classifier shape)."""

    def __init__(self, *, input_size: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(input_size, input_size)
        self.output = nn.Linear(input_size, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.hidden(self.dropout(pooled)))  # (B, D)
        return self.output(self.dropout(hidden))  # (B, C)


class SequenceClassifier(nn.Module):
    """Embedding -> recurrent or Transformer backbone -> pooling -> ClassifierHead.

    generator: draws the recurrent backbone's initialisation and, for a Transformer, the
    embedding table's; the other tensors get torch's default initialisation, drawn from the
    global generator. A unidirectional recurrent model can also read a text piece by piece
    (``start_stream``, ``stream_step``, ``stream_logits``), which is what
    seqlab.infer.streaming.StreamableClassifier asks for.
    """

    def __init__(
        self,
        *,
        config: RecurrentConfig | TransformerConfig,
        vocab_size: int,
        num_classes: int,
        pad_id: int,
        expected_length: int,
        head_dropout: float,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.recurrent = isinstance(config, RecurrentConfig)
        self.embedding_dropout: nn.Module
        if isinstance(config, RecurrentConfig):
            width = config.embed_dim or config.hidden_size
            self.backbone: nn.Module = RecurrentBackbone(
                config, input_size=width, expected_length=expected_length, generator=generator
            )
            self.num_directions = 2 if config.bidirectional else 1
            self.embedding_scale = 1.0
            self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        else:
            width = config.d_model
            self.backbone = TransformerBackbone(config, causal=False)
            self.embedding_scale = math.sqrt(config.d_model)
            # The Transformer backbone applies its own dropout after adding positions.
            self.embedding_dropout = nn.Identity()
        self.pooling = config.pooling
        self.embedding = nn.Embedding(vocab_size, width, padding_idx=pad_id)
        if not self.recurrent:
            # With the sqrt(d_model) scale, N(0, 1/d_model) keeps embeddings at unit size, the
            # same as the positional encodings they are added to.
            nn.init.normal_(self.embedding.weight, std=width**-0.5, generator=generator)
            with torch.no_grad():
                self.embedding.weight[pad_id].zero_()
        self.head = ClassifierHead(
            input_size=self.backbone.output_size, num_classes=num_classes, dropout=head_dropout
        )

    def pool(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The pooled sequence vector (B, D_out) the head reads."""
        embedded = self.embedding_dropout(self.embedding(ids) * self.embedding_scale)  # (B, T, D)
        mask = padding_mask(lengths.to(ids.device), ids.shape[1])  # (B, T) True = real token
        outputs, state = self.backbone(embedded, lengths=lengths)  # (B, T, D_out)
        if self.pooling == "last":
            hidden = state[0] if isinstance(state, tuple) else state  # LSTM state is (h, c)
            return last_state(hidden, num_directions=self.num_directions)
        if self.pooling == "mean":
            return masked_mean(outputs, mask)
        if self.pooling == "max":
            return masked_max(outputs, mask)
        return first_position(outputs)  # "cls": the task puts [CLS] first

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(ids, lengths))  # (B, C)

    # ---- streaming (seqlab.infer.streaming): one recurrent step per new token ----
    @property
    def streams_incrementally(self) -> bool:
        """True for a unidirectional recurrent model: its state summarises the whole prefix."""
        return self.recurrent and self.num_directions == 1

    def start_stream(self) -> dict[str, Any]:
        """The summary of an empty prefix (for a model that ``streams_incrementally``)."""
        return {"state": None, "sum": None, "max": None, "count": 0, "last": None}

    def stream_step(self, ids: torch.Tensor, stream: dict[str, Any]) -> dict[str, Any]:
        """Feed ids (1, k) after the prefix ``stream`` summarises; returns the new summary (the
        old one is not modified, so a tentative step can be thrown away)."""
        embedded = self.embedding(ids) * self.embedding_scale  # (1, k, D)
        outputs, state = self.backbone(embedded, state=stream["state"])  # (1, k, H)
        total = outputs.sum(dim=1)  # (1, H)
        peak = outputs.max(dim=1).values  # (1, H)
        return {
            "state": state,
            "sum": total if stream["sum"] is None else stream["sum"] + total,
            "max": peak if stream["max"] is None else torch.maximum(stream["max"], peak),
            "count": stream["count"] + ids.shape[1],
            "last": outputs[:, -1],  # (1, H)
        }

    def stream_logits(self, stream: dict[str, Any]) -> torch.Tensor:
        """The logits (1, C) for the prefix ``stream`` summarises, pooled as in ``pool``."""
        if self.pooling == "mean":
            pooled = stream["sum"] / stream["count"]
        elif self.pooling == "max":
            pooled = stream["max"]
        else:  # "last": for one direction the top layer's final state is the last output
            pooled = stream["last"]
        return self.head(pooled)  # (1, C)
