"""A BERT-architecture encoder wired from seqlab.nn blocks (embeddings, post-norm GELU layers).

References:
- Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
  Understanding", sec. 3 and fig. 2: the input representation is the sum of token, segment
  (token-type) and learned position embeddings; the encoder is the Transformer encoder of
  Vaswani et al. 2017 (sec. 3.1, post-norm: x = LayerNorm(x + Sublayer(x))) with GELU
  (Hendrycks & Gimpel 2016) in the feed-forward network.
- Hugging Face transformers `modeling_bert.py` (BertEmbeddings, BertLayer): where the paper is
  silent it fixes the details we copy so converted checkpoints compute the same function: a
  LayerNorm (eps 1e-12) and dropout after the embedding sum, the exact (erf) GELU, dropout on the
  attention probabilities and on each sublayer's output before the residual add, and no dropout
  inside the feed-forward network.
- Wang et al. 2020, "MiniLM": all-MiniLM-L6-v2 is this architecture at 6 layers, width 384.

No tensor math lives here (DESIGN.md, convention 1): attention, the feed-forward network and the
post-norm residuals are seqlab.nn.TransformerEncoderLayer(norm_first=False), which computes exactly
BERT's x = LN(x + Dropout(Attn(x))); x = LN(x + Dropout(FFN(x))); positions are
seqlab.nn.LearnedPositions. Masks follow seqlab's convention: bool, True = real token.
Shape legend: B batch, T sequence length, D model width (hidden_size), V vocabulary, L layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from seqlab import nn as snn
from seqlab.errors import SeqlabError
from seqlab.nn.transformer import EncoderOutput

__all__ = ["BertConfig", "BertEncoder"]


@dataclass(frozen=True)
class BertConfig:
    """Hyper-parameters of a BERT encoder (defaults: all-MiniLM-L6-v2's).

    dropout is used everywhere BERT drops out (embeddings, attention probabilities, sublayer
    outputs): seqlab's layers take one rate, so `from_hf_config` refuses checkpoints whose
    `hidden_dropout_prob` and `attention_probs_dropout_prob` differ rather than silently pick one.
    """

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    pad_token_id: int = 0
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        positive = {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "max_positions": self.max_positions,
            "type_vocab_size": self.type_vocab_size,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"bert.{name} ({value}) must be positive")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"bert.hidden_size ({self.hidden_size}) must be divisible by bert.num_heads "
                f"({self.num_heads})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"bert.dropout ({self.dropout}) must be in [0, 1)")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"bert.pad_token_id ({self.pad_token_id}) must be in [0, vocab_size "
                f"({self.vocab_size}))"
            )

    @classmethod
    def from_hf_config(cls, hf: Mapping[str, Any], *, source: str = "config.json") -> BertConfig:
        """Read a Hugging Face BertConfig dict (config.json); refuse what this encoder cannot run.

        Keys that do not change the computed function (architectures, transformers_version,
        use_cache, ...) are ignored; keys that would (activation, position type) are checked.
        """
        model_type = hf.get("model_type", "bert")
        if model_type != "bert":
            raise SeqlabError(f"{source}: model_type ({model_type!r}) must be 'bert'")
        activation = hf.get("hidden_act", "gelu")
        if activation != "gelu":
            # seqlab's GELU is the exact erf form, HF's "gelu"; "gelu_new" (tanh) would differ.
            raise SeqlabError(f"{source}: hidden_act ({activation!r}) must be 'gelu'")
        position_type = hf.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise SeqlabError(
                f"{source}: position_embedding_type ({position_type!r}) must be 'absolute'"
            )
        hidden_dropout = float(hf.get("hidden_dropout_prob", 0.1))
        attention_dropout = float(hf.get("attention_probs_dropout_prob", hidden_dropout))
        if hidden_dropout != attention_dropout:
            raise SeqlabError(
                f"{source}: hidden_dropout_prob ({hidden_dropout}) and "
                f"attention_probs_dropout_prob ({attention_dropout}) differ; seqlab's layers use "
                "one dropout rate"
            )
        required = (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
        )
        missing = [key for key in required if key not in hf]
        if missing:
            raise SeqlabError(f"{source}: missing key(s) {', '.join(missing)}")
        try:
            return cls(
                vocab_size=int(hf["vocab_size"]),
                hidden_size=int(hf["hidden_size"]),
                num_layers=int(hf["num_hidden_layers"]),
                num_heads=int(hf["num_attention_heads"]),
                intermediate_size=int(hf["intermediate_size"]),
                max_positions=int(hf["max_position_embeddings"]),
                type_vocab_size=int(hf.get("type_vocab_size", 2)),
                layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
                dropout=hidden_dropout,
                pad_token_id=int(hf.get("pad_token_id") or 0),
                initializer_range=float(hf.get("initializer_range", 0.02)),
            )
        except ValueError as error:
            raise SeqlabError(f"{source}: {error}") from error


class BertEncoder(nn.Module):
    """Token + position + token-type embeddings, LayerNorm, dropout, L post-norm GELU layers.

    forward(ids (B, T), *, attention_mask (B, T) bool True = real token, token_type_ids (B, T))
    returns EncoderOutput(output (B, T, D) last hidden states, self_attn_weights): the weights
    are L x (B, H, T, T) with need_weights=True (impl="reference" only), else None.
    """

    def __init__(self, config: BertConfig, *, impl: str = "fused") -> None:
        super().__init__()
        self.config = config
        D = config.hidden_size
        # padding_idx as BERT: the pad row gets no gradient, so fine-tuning leaves it as loaded.
        self.word_embeddings = nn.Embedding(config.vocab_size, D, padding_idx=config.pad_token_id)
        self.positions = snn.LearnedPositions(config.max_positions, D)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, D)
        self.embedding_norm = nn.LayerNorm(D, eps=config.layer_norm_eps)
        self.embedding_dropout = nn.Dropout(config.dropout)
        layers = []
        for _ in range(config.num_layers):
            layer = snn.TransformerEncoderLayer(
                D,
                config.num_heads,
                config.intermediate_size,
                config.dropout,
                activation="gelu",
                norm_first=False,  # BERT is post-norm: x = LN(x + Sublayer(x))
                layer_norm_eps=config.layer_norm_eps,
                impl=impl,
            )
            # BERT drops out the feed-forward output (dropout2) but not its GELU activations,
            # which torch's (and seqlab's) layer also drops; turned off so fine-tuning follows
            # the recipe the checkpoint was trained with. Eval-mode outputs are the same either way.
            layer.dropout = nn.Dropout(0.0)
            layers.append(layer)
        # Post-norm layers end in a LayerNorm already, so the stack needs no final one.
        self.encoder = snn.TransformerEncoder(layers, final_norm=None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """BERT's initialisation (modeling_bert `_init_weights`): weights and embeddings
        N(0, initializer_range), biases 0, LayerNorms 1 and 0, the pad embedding 0."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=std)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, snn.MultiHeadAttention):
                nn.init.normal_(module.in_proj_weight, std=std)
                nn.init.zeros_(module.in_proj_bias)
        nn.init.normal_(self.positions.weight, std=std)
        with torch.no_grad():
            self.word_embeddings.weight[self.config.pad_token_id].zero_()

    @property
    def impl(self) -> str:
        """The attention path of every layer; setting it switches them all."""
        return self.encoder.impl

    @impl.setter
    def impl(self, impl: str) -> None:
        self.encoder.impl = impl

    def forward(
        self,
        ids: Tensor,
        *,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        need_weights: bool = False,
    ) -> EncoderOutput:
        """ids (B, T) token ids; attention_mask (B, T) bool, True = real token (None: all real);
        token_type_ids (B, T) segment ids (None: all segment 0, as for single sentences)."""
        if ids.dim() != 2:
            raise ValueError(f"ids must have shape (B, T), got {tuple(ids.shape)}")
        B, T = ids.shape
        for name, tensor in (
            ("attention_mask", attention_mask),
            ("token_type_ids", token_type_ids),
        ):
            if tensor is not None and tuple(tensor.shape) != (B, T):
                raise ValueError(
                    f"{name} must have the shape of ids ({B}, {T}), got {tuple(tensor.shape)}"
                )
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(ids)  # (B, T)
        x = (
            self.word_embeddings(ids)  # (B, T, D)
            + self.positions(T)  # (T, D), broadcast over the batch
            + self.token_type_embeddings(token_type_ids)  # (B, T, D)
        )  # (B, T, D)
        x = self.embedding_dropout(self.embedding_norm(x))  # (B, T, D)
        return self.encoder(x, key_padding_mask=attention_mask, need_weights=need_weights)
