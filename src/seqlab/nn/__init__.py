"""seqlab.nn: the building blocks of both model families.

Recurrent cells and layers (``RNN``, ``LSTM``, ``GRU``), attention (full, and local:
``local_attention`` with its band ``window_mask``), positions, the Transformer layers and
stacks, Transformer-XL's relative attention and segment memory (``RelativeTransformerEncoder``,
``next_memory``), and ``recorded_attention`` (every attention map of one forward pass). Every
block that torch also implements has a readable ``impl="reference"`` path and a fast
``impl="fused"`` path over one parameter set. Importing this package loads torch only.
"""

from seqlab.nn.attention import KVCache, MultiHeadAttention, scaled_dot_product_attention
from seqlab.nn.attention_maps import AttentionRecord, recorded_attention
from seqlab.nn.cells import GRUCell, LSTMCell, RNNCell
from seqlab.nn.local_attention import local_attention, window_mask
from seqlab.nn.masks import causal_mask, padding_mask
from seqlab.nn.positions import LearnedPositions, SinusoidalPositions
from seqlab.nn.recurrent import GRU, LSTM, RNN, RecurrentTrace
from seqlab.nn.recurrent_attention import RecurrentAttention
from seqlab.nn.relative_attention import RelativeMultiHeadAttention, RelativePositions
from seqlab.nn.relative_transformer import (
    RelativeTransformerEncoder,
    RelativeTransformerLayer,
    next_memory,
)
from seqlab.nn.transformer import (
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "AttentionRecord",
    "GRU",
    "GRUCell",
    "KVCache",
    "LSTM",
    "LSTMCell",
    "LearnedPositions",
    "MultiHeadAttention",
    "RNN",
    "RNNCell",
    "RecurrentAttention",
    "RecurrentTrace",
    "RelativeMultiHeadAttention",
    "RelativePositions",
    "RelativeTransformerEncoder",
    "RelativeTransformerLayer",
    "SinusoidalPositions",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "causal_mask",
    "local_attention",
    "next_memory",
    "padding_mask",
    "recorded_attention",
    "scaled_dot_product_attention",
    "window_mask",
]
