"""``seqlab demo``: a short tour of the building blocks, checked against torch.nn as it runs.

For each block it copies a torch.nn module's weights into seqlab's, runs both of seqlab's paths
(reference: the equations step by step; fused: torch's kernels) on the same input, and prints the
largest difference from torch. Then it reads what only the reference path shows: an LSTM's gate
values step by step, and the attention weights of a causal head.
"""

from __future__ import annotations

import torch
from rich.console import Console
from rich.table import Table

import seqlab.nn as snn


def _largest_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def _recurrent_rows(x: torch.Tensor, lengths: torch.Tensor) -> list[tuple[str, str, float]]:
    rows = []
    pairs = [
        ("RNN (tanh)", torch.nn.RNN, snn.RNN),
        ("LSTM", torch.nn.LSTM, snn.LSTM),
        ("GRU", torch.nn.GRU, snn.GRU),
    ]
    for name, torch_class, seqlab_class in pairs:
        reference = torch_class(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        expected, _ = reference(packed)
        expected, _ = torch.nn.utils.rnn.pad_packed_sequence(
            expected, batch_first=True, total_length=x.shape[1]
        )  # (B, T, 2H)
        for impl in ("reference", "fused"):
            layer = seqlab_class(8, 16, num_layers=2, bidirectional=True, impl=impl)
            layer.load_state_dict(reference.state_dict())
            output, _ = layer(x, lengths=lengths)  # (B, T, 2H)
            rows.append(
                (
                    f"{name}, 2 layers, bidirectional, padded",
                    impl,
                    _largest_difference(output, expected),
                )
            )
    return rows


def _encoder_rows(x: torch.Tensor) -> list[tuple[str, str, float]]:
    rows = []
    for norm_first in (False, True):
        reference = torch.nn.TransformerEncoderLayer(
            32, 4, dim_feedforward=64, dropout=0.0, batch_first=True, norm_first=norm_first
        ).train()  # training mode: torch's inference fast path has other padding rules
        expected = reference(x)  # (B, T, D)
        for impl in ("reference", "fused"):
            layer = snn.TransformerEncoderLayer.from_torch(reference, impl=impl)
            output = layer(x).output  # (B, T, D)
            placement = "pre-norm" if norm_first else "post-norm (the paper's)"
            rows.append(
                (
                    f"Transformer encoder layer, {placement}",
                    impl,
                    _largest_difference(output, expected),
                )
            )
    return rows


@torch.no_grad()
def run_demo(*, seed: int = 0, console: Console | None = None) -> list[tuple[str, str, float]]:
    """Print the tour; return its (block, path, largest difference from torch.nn) rows."""
    console = console or Console()
    torch.manual_seed(seed)

    table = Table(title="seqlab blocks against torch.nn (same weights, same input, float32)")
    table.add_column("block")
    table.add_column("seqlab path")
    table.add_column("largest |seqlab - torch.nn|", justify="right")
    x = torch.randn(4, 12, 8)  # (B, T, F)
    lengths = torch.tensor([12, 5, 9, 1])
    rows = _recurrent_rows(x, lengths) + _encoder_rows(torch.randn(2, 10, 32))
    for block, impl, difference in rows:
        table.add_row(block, impl, f"{difference:.1e}")
    console.print(table)

    lstm = snn.LSTM(8, 4, impl="reference")
    trace = lstm.trace(x[:1, :6])
    gates = trace.gates[0][0]  # layer 0, forward direction: name -> (B, T, H)
    gate_table = Table(
        title="An LSTM reading 6 steps: mean gate value per step (unit 0..3 averaged)"
    )
    gate_table.add_column("step", justify="right")
    for gate_name in gates:
        gate_table.add_column(f"{gate_name} gate", justify="right")
    for step in range(6):
        gate_table.add_row(
            str(step), *(f"{float(gates[name][0, step].mean()):.3f}" for name in gates)
        )
    console.print(gate_table)

    attention = snn.MultiHeadAttention(16, 2, impl="reference")
    tokens = torch.randn(1, 5, 16)  # (B, T, D)
    result = attention(tokens, causal=True, need_weights=True)
    weights = result.weights[0, 0]  # (T, T) head 0
    weight_table = Table(
        title="Causal self-attention, head 0: each row sums to 1, no future column"
    )
    weight_table.add_column("query \\ key")
    for key in range(5):
        weight_table.add_column(str(key), justify="right")
    for query in range(5):
        weight_table.add_row(str(query), *(f"{float(w):.2f}" for w in weights[query]))
    console.print(weight_table)
    return rows
