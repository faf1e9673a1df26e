"""The network for the memory problems: input encoder, backbone, and a head at the answer steps.

recall and copy read symbol ids through an embedding table; adding reads (value, marker) pairs
through a linear map. The head reads the backbone's output at the last position for recall (class
logits) and adding (a scalar), and at each of the last ``answer_steps`` positions for copy (one
per symbol of the string, whatever its length, one included).

``embed`` and ``forward_embedded`` are separate so the lab can take the gradient of the loss with
respect to each input position's vector (how much the answer still depends on step t).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.models.backbones import build_backbone
from seqlab.models.config import ModelConfig, PretrainedConfig, RecurrentConfig


class MemoryModel(nn.Module):
    def __init__(
        self,
        *,
        config: ModelConfig,
        vocab_size: int,
        input_features: int,
        output_size: int,
        answer_steps: int | None,
        expected_length: int,
        generator: torch.Generator | None = None,
    ) -> None:
        """vocab_size > 0: inputs are symbol ids; else inputs carry ``input_features`` values.
        answer_steps None: one answer at the last step; an int: per-position answers (copy)."""
        super().__init__()
        if isinstance(config, PretrainedConfig):
            raise ValueError(
                f"model.family {config.family!r} is a pretrained text encoder; the memory "
                "problems train rnn, lstm, gru or transformer"
            )
        if isinstance(config, RecurrentConfig):
            width = config.embed_dim or config.hidden_size
        else:
            width = config.d_model
        if vocab_size > 0:
            self.input_encoder: nn.Module = nn.Embedding(vocab_size, width)
        else:
            self.input_encoder = nn.Linear(input_features, width)
        # Every family reads its answer after the whole input, left to right, like a stream.
        self.backbone = build_backbone(
            config,
            input_size=width,
            causal=True,
            expected_length=expected_length,
            generator=generator,
        )
        self.head = nn.Linear(self.backbone.output_size, output_size)
        self.answer_steps = 1 if answer_steps is None else answer_steps
        self.per_position = answer_steps is not None
        self.scalar_output = output_size == 1

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.input_encoder(inputs)  # (B, T, D)

    def forward_embedded(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.backbone(x)  # (B, T, backbone.output_size)
        answer = outputs[:, -self.answer_steps :]  # (B, answer_steps, backbone.output_size)
        logits = self.head(answer)  # (B, answer_steps, C)
        if self.scalar_output:
            return logits[:, -1, 0]  # (B,) the adding problem's sum
        if not self.per_position:
            return logits[:, -1]  # (B, C) recall's class logits
        return logits  # (B, answer_steps, C) copy's per-position logits

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embed(inputs))
