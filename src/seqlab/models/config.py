"""One frozen, typed configuration per model family; saved in every model directory.

Defaults reproduce the study material where it gives values (the Transformer paper's base model:
d_model 512, 8 heads so d_k = 64, feed-forward 2048, dropout 0.1, 6 layers). The config stops at the
model boundary: builders read it and pass explicit keyword arguments to the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqlab.models.config_checks import check_combine_with, check_residual_of, check_window

RecurrentFamily = Literal["rnn", "lstm", "gru"]
RECURRENT_FAMILIES: tuple[str, ...] = ("rnn", "lstm", "gru")
FAMILIES: tuple[str, ...] = (*RECURRENT_FAMILIES, "transformer")

# model.residual_of: the forecasting baseline a network learns the residual of ("auto": the one
# of lowest mse over rolling origins), seqlab.models.residual_forecaster; model.combine_with:
# the one whose forecast is averaged with the network's, seqlab.models.combined_forecaster.
ResidualOf = Literal[
    "auto", "repeat", "seasonal_24", "seasonal_168", "linear", "nlinear", "dlinear"
]


@dataclass(frozen=True)
class RecurrentConfig:
    """A vanilla RNN, LSTM or GRU stack.

    init: how the gate biases start. "chrono" (Tallec and Ollivier, 2018, "Can recurrent neural
    networks warp time?"): LSTM forget-gate bias b_f ~ log(U(1, T_max - 1)) and input-gate bias
    -b_f; GRU update-gate bias log(U(1, T_max - 1)), so gates start out keeping memory for about
    T_max steps; T_max is ``chrono_max_steps``, or when that is None the longest dependency the
    task expects (its sequence length). "forget-bias-1": the common LSTM forget-gate bias of 1
    (Gers et al., 2000; Jozefowicz et al., 2015); for a GRU its update gate gets 1. "standard":
    torch's uniform ±1/sqrt(hidden_size) for every bias (and weight_hh too when recurrent_init is
    "uniform").

    embed_dim: width of the token embeddings feeding the first layer (None: hidden_size).
    embedding_dropout: classifiers only: dropout on the token embeddings before the first layer
    (the input dropout of Zaremba et al., 2014, "Recurrent neural network regularization"), which
    a one-layer stack otherwise lacks: its ``dropout`` acts between layers and in the head.
    pooling: how a classifier turns the sequence into one vector: "last" (the top layer's final
    state, both directions for a bidirectional layer), "mean" or "max" over real steps.

    recurrent_init: "orthogonal" (Saxe et al., 2014, "Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks"; the Keras default) makes each gate's
    hidden_size x hidden_size block of weight_hh an orthogonal matrix, so the recurrence starts
    with every singular value 1 and gradients neither shrink nor grow from the weights alone;
    "uniform" keeps torch's ±1/sqrt(hidden_size), whose spectral radius is about 1/sqrt(3), so a
    vanilla RNN's gradient starts out shrinking geometrically with distance.

    Used by the forecaster only (seqlab.models.forecaster.RecurrentForecaster; other tasks ignore
    them): forecast_head "direct" (one Linear from the final state to all horizon steps) or
    "decoder" (a recurrent decoder feeding back its own predictions); last_values_in_head (the
    direct head also reads the window's last observed values); instance_norm (reversible
    instance normalisation, RevIN, around the network); channel_independent (each forecast
    series through the same univariate network, seqlab.models.forecaster.ChannelIndependent;
    None: on when every value column is forecast, features M);
    patch_length (None: the encoder steps once per time step; P: once per segment of P steps,
    as SegRNN); residual_of (None: off; a baseline's name, or "auto" for the one of lowest mse
    over rolling origins: the network learns the residual of that baseline's forecast,
    seqlab.models.residual_forecaster.ResidualForecaster, which normalises each window itself,
    so instance_norm is then off inside it); combine_with (None: off; a baseline's name or
    "auto", chosen as for residual_of: the forecast is the mean of the network's and that
    baseline's, the network trained alone, seqlab.models.combined_forecaster).
    """

    family: RecurrentFamily = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    init: Literal["chrono", "forget-bias-1", "standard"] = "chrono"
    recurrent_init: Literal["orthogonal", "uniform"] = "orthogonal"
    chrono_max_steps: int | None = None
    embed_dim: int | None = None
    embedding_dropout: float = 0.0
    pooling: Literal["last", "mean", "max"] = "last"
    impl: Literal["fused", "reference"] = "fused"
    forecast_head: Literal["direct", "decoder"] = "direct"
    last_values_in_head: bool = False
    instance_norm: bool = False
    channel_independent: bool | None = None
    patch_length: int | None = None
    residual_of: ResidualOf | None = None
    combine_with: ResidualOf | None = None

    def __post_init__(self) -> None:
        if self.patch_length is not None and self.patch_length < 1:
            raise ValueError(
                f"model.patch_length ({self.patch_length}) must be a positive number of steps, "
                "or null for one encoder step per time step"
            )
        check_residual_of(self.residual_of)
        check_combine_with(self.combine_with)
        if self.family not in RECURRENT_FAMILIES:
            raise ValueError(
                f"model.family ({self.family!r}) must be one of {', '.join(RECURRENT_FAMILIES)}"
            )
        if self.hidden_size < 1 or self.num_layers < 1:
            raise ValueError(
                f"model.hidden_size ({self.hidden_size}) and model.num_layers ({self.num_layers}) "
                "must be positive"
            )
        for name in ("dropout", "embedding_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"model.{name} ({getattr(self, name)}) must be in [0, 1)")
        if self.chrono_max_steps is not None and self.chrono_max_steps < 3:
            raise ValueError(
                f"model.chrono_max_steps ({self.chrono_max_steps}) must be at least 3 "
                "(chrono draws from U(1, T - 1))"
            )


@dataclass(frozen=True)
class TransformerConfig:
    """A Transformer stack (the paper's base model by default).

    pooling: how a classifier turns the sequence into one vector: "cls" (the output at a [CLS]
    token the task puts first, as BERT does) or "mean" over real tokens.

    window: None (default) is full self-attention; an int w is local (sliding-window) attention
    of w tokens in every layer (Beltagy et al. 2020, Longformer; seqlab.nn.local_attention),
    computed in blocks with memory linear in the length. The band is centred, [i - w//2,
    i + w//2], in the bidirectional encoders (the sentiment classifier, the forecaster, whose
    tokens are patches when patch_length is set) and causal, (i - w, i], where the backbone reads
    left to right (the memory task). 1 <= w <= max_len; a window covering the whole sequence is
    full attention.

    Used by the forecaster only (seqlab.models.forecaster.TransformerForecaster; other tasks
    ignore them): patch_length (None: one token per time step; P: non-overlapping patches of P
    steps, as PatchTST), instance_norm (reversible instance normalisation, RevIN) and
    channel_independent (each forecast series through the same univariate network, PatchTST's
    channel independence: seqlab.models.forecaster.ChannelIndependent; None: on when every value
    column is forecast, features M), residual_of and combine_with (as in RecurrentConfig: the
    network learns the residual of a baseline's forecast, seqlab.models.residual_forecaster, or
    its forecast is averaged with one, seqlab.models.combined_forecaster).
    """

    family: Literal["transformer"] = "transformer"
    d_model: int = 512
    num_heads: int = 8
    num_layers: int = 6
    dim_feedforward: int = 2048
    dropout: float = 0.1
    activation: Literal["relu", "gelu"] = "relu"
    norm_first: bool = False
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"
    max_len: int = 4096
    pooling: Literal["cls", "mean"] = "cls"
    impl: Literal["fused", "reference"] = "fused"
    patch_length: int | None = None
    instance_norm: bool = False
    channel_independent: bool | None = None
    window: int | None = None
    residual_of: ResidualOf | None = None
    combine_with: ResidualOf | None = None

    def __post_init__(self) -> None:
        check_residual_of(self.residual_of)
        check_combine_with(self.combine_with)
        if self.patch_length is not None and self.patch_length < 1:
            raise ValueError(
                f"model.patch_length ({self.patch_length}) must be a positive number of steps, "
                "or null for one token per step"
            )
        if self.d_model % self.num_heads:
            raise ValueError(
                f"model.d_model ({self.d_model}) must be divisible by model.num_heads "
                f"({self.num_heads})"
            )
        check_window(self.window, name="window", max_len=self.max_len)


@dataclass(frozen=True)
class PretrainedConfig:
    """A pretrained encoder fine-tuned under a classification head.

    family "minilm": all-MiniLM-L6-v2 (6 BERT layers, 384 wide) loaded into seqlab's own encoder
    blocks from the ``seqlab[pretrained]`` extra (seqlab.models.pretrained). Its architecture
    comes from the checkpoint, not from this config. pooling: "mean" over real tokens (how its
    sentence embeddings were trained) or "cls". dropout: the head's (the encoder keeps BERT's 0.1).
    freeze_word_embeddings: keep the 30,522 x 384 word-embedding table (half the checkpoint's
    parameters) as pretrained. Its gradient and AdamW update are a quarter of a CPU step's cost,
    and frozen vectors keep words the training split never shows where pretraining put them
    (Lee et al. 2019, "What Would Elsa Do? Freezing Layers During Transformer Fine-Tuning").
    """

    family: Literal["minilm"] = "minilm"
    pooling: Literal["mean", "cls"] = "mean"
    dropout: float = 0.1
    freeze_word_embeddings: bool = False
    impl: Literal["fused", "reference"] = "fused"

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout ({self.dropout}) must be in [0, 1)")


ModelConfig = RecurrentConfig | TransformerConfig | PretrainedConfig
