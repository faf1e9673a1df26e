"""The encoder-decoder (translation) model configs: one frozen, typed dataclass per family.

These are separate from seqlab.models.config's TransformerConfig and RecurrentConfig because an
encoder-decoder needs what those lack (the decoder's depth, the recurrent decoder's attention
and input feeding, tied and shared embeddings) and has no use for their classifier and
forecaster fields.

References:
- Vaswani et al. 2017, "Attention Is All You Need", Table 3 (base): d_model 512, 8 heads,
  d_ff 2048, 6 encoder and 6 decoder layers, dropout 0.1, post-norm; sec. 3.4: the two
  embeddings and the pre-softmax projection share one matrix when the vocabulary is shared.
  Seq2SeqTransformerConfig's defaults are this base model.
- Beltagy et al. 2020, "Longformer", sec. 3.1: sliding-window (local) self-attention
  (`window`, `decoder_window`; seqlab.nn.local_attention).
- Press and Wolf 2017, "Using the Output Embedding to Improve Language Models": tying the target
  embedding to the output projection (`tie_output`).
- Luong, Pham and Manning 2015, "Effective Approaches to Attention-based Neural Machine
  Translation": the global attention decoder with input feeding (sec. 3.1, 3.3), dropout 0.2
  (sec. 4.1); Bahdanau, Cho and Bengio 2015: the bidirectional encoder and the additive score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqlab.models.config_checks import check_dropout, check_positive, check_window

__all__ = ["Seq2SeqConfig", "Seq2SeqRecurrentConfig", "Seq2SeqTransformerConfig"]


def _check_embeddings(tie_output: bool, share_embeddings: bool) -> None:
    if share_embeddings and not tie_output:
        raise ValueError(
            "model.share_embeddings (true) makes the source embedding, the target embedding and "
            "the output projection one matrix, so it needs model.tie_output true"
        )


@dataclass(frozen=True)
class Seq2SeqTransformerConfig:
    """A Transformer encoder-decoder; the defaults are the paper's base model.

    norm_first: False is the paper's post-norm; True is pre-norm (with a final LayerNorm on both
    stacks; see seqlab.nn.transformer). max_len: the longest source or target (BOS included) the
    sinusoidal table covers. tie_output: the target embedding is the output projection.
    share_embeddings: one matrix for source, target and output (a joint vocabulary).

    window: the encoder's self-attention, None (default) full or an int w for local attention
    over a centred band of w tokens, [i - w//2, i + w//2] (the encoder reads both ways).
    decoder_window: the decoder's self-attention, None full or an int w for a causal band,
    (i - w, i]: each target token sees itself and the w - 1 before it, in training and in cached
    decoding alike. Cross-attention always reads the whole source. Each is 1 to max_len.
    """

    family: Literal["transformer"] = "transformer"
    d_model: int = 512
    num_heads: int = 8
    num_encoder_layers: int = 6
    num_decoder_layers: int = 6
    dim_feedforward: int = 2048
    dropout: float = 0.1
    activation: Literal["relu", "gelu"] = "relu"
    norm_first: bool = False
    max_len: int = 1024
    tie_output: bool = True
    share_embeddings: bool = False
    impl: Literal["fused", "reference"] = "fused"
    window: int | None = None
    decoder_window: int | None = None

    def __post_init__(self) -> None:
        check_positive(
            self, "d_model", "num_heads", "num_encoder_layers", "num_decoder_layers",
            "dim_feedforward", "max_len",
        )  # fmt: skip
        check_window(self.window, name="window", max_len=self.max_len)
        check_window(self.decoder_window, name="decoder_window", max_len=self.max_len)
        if self.d_model % self.num_heads:
            raise ValueError(
                f"model.d_model ({self.d_model}) must be divisible by model.num_heads "
                f"({self.num_heads})"
            )
        check_dropout(self.dropout)
        _check_embeddings(self.tie_output, self.share_embeddings)


@dataclass(frozen=True)
class Seq2SeqRecurrentConfig:
    """A recurrent encoder-decoder with attention (Luong et al. 2015's global attention).

    hidden_size: the decoder's width, and the encoder's output width: a bidirectional encoder
    gives each direction hidden_size / 2, so its concatenated states match the decoder's (how the
    bridge and dot attention need them). num_layers: of the encoder and of the decoder (the
    bridge maps layer to layer). embed_dim: token embedding width (None: hidden_size; must equal
    hidden_size when tie_output). attention: "additive" (Bahdanau), "dot" or "general" (Luong);
    attention_size: the additive score's width (None: hidden_size). input_feeding: the previous
    step's attentional vector joins the decoder's input (Luong sec. 3.3). dropout: on the
    embeddings, between stacked layers, and on the attentional vector.
    """

    family: Literal["lstm", "gru"] = "lstm"
    embed_dim: int | None = None
    hidden_size: int = 512
    num_layers: int = 2
    bidirectional_encoder: bool = True
    attention: Literal["additive", "dot", "general"] = "general"
    attention_size: int | None = None
    input_feeding: bool = True
    dropout: float = 0.2
    tie_output: bool = True
    share_embeddings: bool = False
    impl: Literal["fused", "reference"] = "fused"

    def __post_init__(self) -> None:
        check_positive(self, "hidden_size", "num_layers")
        if self.embed_dim is not None:
            check_positive(self, "embed_dim")
        if self.attention_size is not None:
            check_positive(self, "attention_size")
            if self.attention != "additive":
                raise ValueError(
                    f"model.attention_size ({self.attention_size}) is the additive score's "
                    f"width; model.attention {self.attention!r} has none (set it to null)"
                )
        if self.bidirectional_encoder and self.hidden_size % 2:
            raise ValueError(
                f"model.hidden_size ({self.hidden_size}) must be even with "
                "model.bidirectional_encoder: each encoder direction gets half of it"
            )
        if self.tie_output and self.embed_dim not in (None, self.hidden_size):
            raise ValueError(
                f"model.tie_output needs model.embed_dim ({self.embed_dim}) equal to "
                f"model.hidden_size ({self.hidden_size}): the output projection reads "
                "hidden_size-wide vectors and is the target embedding"
            )
        check_dropout(self.dropout)
        _check_embeddings(self.tie_output, self.share_embeddings)

    @property
    def token_width(self) -> int:
        """The token embedding width: embed_dim, or hidden_size when that is None."""
        return self.hidden_size if self.embed_dim is None else self.embed_dim


Seq2SeqConfig = Seq2SeqTransformerConfig | Seq2SeqRecurrentConfig
