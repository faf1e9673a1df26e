"""The language-model configs: one frozen, typed dataclass per family (torch-free).

These are separate from seqlab.models.config's TransformerConfig and RecurrentConfig because a
language model needs what those lack (a context length, tied input and output embeddings) and
has no use for their classifier and forecaster fields.

References:
- Radford et al. 2018, "Improving Language Understanding by Generative Pre-Training" (GPT): a
  decoder-only Transformer (masked self-attention, no cross-attention), learned position
  embeddings, GELU; Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"
  (GPT-2, sec. 2.3): LayerNorm moved to the input of each sub-block (pre-norm) plus a final
  LayerNorm after the last block, residual projections initialised with std 0.02 / sqrt(2 L).
- Karpathy, nanoGPT (`model.py`, `config/train_shakespeare_char.py`): the Shakespeare-char model,
  n_layer 6, n_head 6, n_embd 384, block_size 256, dropout 0.2, bias False, which is
  LMTransformerConfig's default (n_layer, n_head, n_embd, block_size are called num_layers,
  num_heads, d_model, context here).
- Press and Wolf 2017, "Using the Output Embedding to Improve Language Models": the input
  embedding doubles as the output projection (`tie_weights`).
- Zaremba, Sutskever and Vinyals 2014, "Recurrent Neural Network Regularization": a stacked LSTM
  language model with dropout on the non-recurrent connections only (embeddings, between layers,
  before the output), as LMRecurrentConfig's `dropout`; Merity, Keskar and Socher 2018,
  "Regularizing and Optimizing LSTM Language Models" (AWD-LSTM): tied weights need the last
  layer's width to equal the embedding width.
- Williams and Peng 1990, "An Efficient Gradient-Based Algorithm for On-Line Training of
  Recurrent Network Trajectories": truncated backpropagation through time, the state carried
  from one segment to the next (the recurrent model's forward takes and returns it).
- Dai et al. 2019, "Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context":
  segment-level recurrence (sec. 3.2, LMTransformerConfig's `memory_length`) needs relative
  positional encodings (sec. 3.3, `positions` "relative"): learned absolute positions would give
  a memory state and the segment state at the same index the same position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqlab.models.config_checks import check_dropout, check_positive, check_window

__all__ = ["LMConfig", "LMRecurrentConfig", "LMTransformerConfig"]

LM_RECURRENT_FAMILIES: tuple[str, ...] = ("lstm", "gru", "rnn")


@dataclass(frozen=True)
class LMTransformerConfig:
    """A decoder-only (GPT-style) Transformer; the defaults are nanoGPT's Shakespeare-char model.

    dim_feedforward: the feed-forward width (None: 4 x d_model, GPT's). context: the longest
    window the model reads (nanoGPT's block_size; the learned position table has this many rows).
    norm_first: True is GPT-2's pre-norm with a final LayerNorm; False the original post-norm.
    bias: biases in every Linear and LayerNorm; False as nanoGPT's Shakespeare-char run (its
    reported 10.65M parameters count no biases), "a bit better and faster" by its account.
    tie_weights: the token embedding is the output projection (Press and Wolf 2017).
    positions: "learned" is GPT's table of absolute positions added to the token embeddings
    (seqlab.models.language_model_transformer.TransformerLM); "relative" is Transformer-XL's
    relative attention (seqlab.models.language_model_xl.TransformerXLLM, Dai et al. 2019 sec.
    3.3): no position is added to the embeddings, each attention score reads the distance from
    query to key instead.
    memory_length: Transformer-XL's memory M (sec. 3.2), 0 for none. With M > 0 each layer
    also attends to the last M states of its input over the earlier segments (kept without
    gradient), training reads the text as contiguous segments of `context` tokens with the
    memory carried from one to the next, and generation keeps the current segment plus the
    memory. Needs positions "relative". With M = 0 and positions "relative" the model is the
    relative-position Transformer without memory, trained and evaluated on independent windows
    as the "learned" one is.
    window: None (default) is full causal attention over the context; w makes every layer's
    self-attention local (Longformer's causal sliding window, seqlab.nn.local_attention): the
    token at position p attends to positions (p - w, p] only, computed in blocks without a
    context x context matrix, so a long context costs memory linear in its length. Stacked
    layers still see further back: L layers reach L (w - 1) tokens. At most `context`; with
    positions "learned" only (Transformer-XL's memory is the relative model's way to reach back).
    """

    family: Literal["transformer"] = "transformer"
    num_layers: int = 6
    num_heads: int = 6
    d_model: int = 384
    dim_feedforward: int | None = None
    dropout: float = 0.2
    context: int = 256
    norm_first: bool = True
    activation: Literal["gelu", "relu"] = "gelu"
    bias: bool = False
    tie_weights: bool = True
    impl: Literal["fused", "reference"] = "fused"
    positions: Literal["learned", "relative"] = "learned"
    memory_length: int = 0
    window: int | None = None

    def __post_init__(self) -> None:
        if self.family != "transformer":
            raise ValueError(f"model.family ({self.family!r}) must be 'transformer'")
        check_positive(self, "num_layers", "num_heads", "d_model", "context")
        if self.dim_feedforward is not None:
            check_positive(self, "dim_feedforward")
        if self.d_model % self.num_heads:
            raise ValueError(
                f"model.d_model ({self.d_model}) must be divisible by model.num_heads "
                f"({self.num_heads})"
            )
        check_dropout(self.dropout)
        if self.memory_length < 0:
            raise ValueError(
                f"model.memory_length ({self.memory_length}) must be at least 0 (0: no memory)"
            )
        check_window(self.window, name="window", max_len=self.context, limit_name="context")
        if self.window is not None and self.positions != "learned":
            raise ValueError(
                f"model.window ({self.window}) works with model.positions 'learned', not "
                f"{self.positions!r}: the relative model reaches back through its memory "
                "(set model.window=null, or model.positions=learned)"
            )
        if self.memory_length > 0 and self.positions != "relative":
            raise ValueError(
                f"model.memory_length ({self.memory_length}) needs model.positions 'relative', "
                f"not {self.positions!r}: absolute positions restart in every segment, so the "
                "memory would repeat them (set model.positions=relative)"
            )

    @property
    def carries_memory(self) -> bool:
        """True when segments are read in order with a memory carried (memory_length > 0)."""
        return self.memory_length > 0

    @property
    def feedforward_width(self) -> int:
        """dim_feedforward, or 4 x d_model when that is None."""
        return 4 * self.d_model if self.dim_feedforward is None else self.dim_feedforward


@dataclass(frozen=True)
class LMRecurrentConfig:
    """A recurrent (Elman RNN, LSTM or GRU) language model after Zaremba et al. 2014.

    embed_dim: token embedding width (None: hidden_size; must equal hidden_size when
    tie_weights, since the output projection reads hidden_size-wide states and is the embedding).
    dropout: on the embeddings, between stacked layers, and on the top layer's output before the
    projection (non-recurrent connections only). nonlinearity: the vanilla RNN's (family "rnn").
    init, recurrent_init, chrono_max_steps: as seqlab.models.config.RecurrentConfig (gate biases,
    orthogonal weight_hh); the defaults keep torch's uniform initialisation, as the references'
    models; "chrono" needs chrono_max_steps (the longest dependency to keep, e.g. the BPTT length).
    """

    family: Literal["lstm", "gru", "rnn"] = "lstm"
    embed_dim: int | None = None
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.2
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    tie_weights: bool = True
    init: Literal["chrono", "forget-bias-1", "standard"] = "standard"
    recurrent_init: Literal["orthogonal", "uniform"] = "uniform"
    chrono_max_steps: int | None = None
    impl: Literal["fused", "reference"] = "fused"

    def __post_init__(self) -> None:
        if self.family not in LM_RECURRENT_FAMILIES:
            raise ValueError(
                f"model.family ({self.family!r}) must be one of {', '.join(LM_RECURRENT_FAMILIES)}"
            )
        check_positive(self, "hidden_size", "num_layers")
        if self.embed_dim is not None:
            check_positive(self, "embed_dim")
        if self.tie_weights and self.embed_dim not in (None, self.hidden_size):
            raise ValueError(
                f"model.tie_weights needs model.embed_dim ({self.embed_dim}) equal to "
                f"model.hidden_size ({self.hidden_size}): the output projection reads "
                "hidden_size-wide states and is the token embedding (or set model.tie_weights "
                "false)"
            )
        if self.nonlinearity != "tanh" and self.family != "rnn":
            raise ValueError(
                f"model.nonlinearity ({self.nonlinearity!r}) applies to family 'rnn' only, "
                f"not {self.family!r}"
            )
        check_dropout(self.dropout)
        if self.chrono_max_steps is not None and self.chrono_max_steps < 3:
            raise ValueError(
                f"model.chrono_max_steps ({self.chrono_max_steps}) must be at least 3 "
                "(chrono draws from U(1, T - 1))"
            )
        if self.init == "chrono" and self.chrono_max_steps is None:
            raise ValueError(
                "model.init 'chrono' needs model.chrono_max_steps: the longest dependency the "
                "gates should keep at the start (e.g. the BPTT segment length)"
            )

    @property
    def token_width(self) -> int:
        """The token embedding width: embed_dim, or hidden_size when that is None."""
        return self.hidden_size if self.embed_dim is None else self.embed_dim


LMConfig = LMTransformerConfig | LMRecurrentConfig
