"""The reference path of the recurrent layers: a Python loop over layers, directions and time steps.

References: every step is one call of the step functions of `seqlab.nn.cells` (Elman 1990;
Hochreiter and Schmidhuber 1997 with Gers et al. 2000's forget gate; Cho et al. 2014 in torch's
form). Stacking follows torch.nn.RNN/LSTM/GRU: layer l > 0 reads both directions of layer l - 1
concatenated (Schuster and Paliwal 1997), with dropout between layers in training mode only
(Zaremba et al. 2014). `reference_trace` keeps every step's hidden state, cell state and gates:
what `trace()`, the lab and the web page read.

Padded steps (past a sequence's length) leave the state as it was and output zeros, which is
what torch's packed fused kernel computes; the padding mask comes from `seqlab.nn.masks`.

Shapes (the repository's legend): B batch, T time steps, F input features, L layers; hidden_size
and num_directions are written out, since H and D mean heads and model width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.nn.cells import gru_step, lstm_step, rnn_step
from seqlab.nn.masks import padding_mask
from seqlab.nn.recurrent_checks import LayerInputs, State
from seqlab.nn.recurrent_params import CellWeights, RecurrentParameters

__all__ = ["RecurrentTrace", "reference_forward", "reference_trace"]


@dataclass(frozen=True)
class RecurrentTrace:
    """Everything one reference-path run computed, step by step (what the lab and web page read).

    Indexing is ``[layer][direction]`` (direction 0 forward, 1 reverse). Every per-step tensor is
    (B, T, hidden_size) in input time order, also for the reverse direction (its entry at t is the
    state after reading x_t, which it reaches after reading x_{T-1} ... x_t). Steps past a
    sequence's length are zero, like the layer's output.

    Fields:
        output: (B, T, num_directions*hidden_size), equal to the layer's forward output.
        state: final state in torch's layout, (L*num_directions, B, hidden_size) or the LSTM pair
            (h, c).
        hidden_states: h_t per layer and direction, (B, T, hidden_size) each.
        cell_states: the LSTM's c_t per layer and direction, (B, T, hidden_size); None for RNN
            and GRU.
        gates: gate activations per layer and direction, name -> (B, T, hidden_size): "i", "f",
            "g", "o" for LSTM, "r", "z", "n" for GRU, and an empty dict for the vanilla RNN (no
            gates).
        lengths: the lengths used (CPU int64, (B,)), or None when every sequence is full length.
    """

    output: Tensor
    state: State
    hidden_states: tuple[tuple[Tensor, ...], ...]
    cell_states: tuple[tuple[Tensor, ...], ...] | None
    gates: tuple[tuple[dict[str, Tensor], ...], ...]
    lengths: Tensor | None


@dataclass(frozen=True)
class _DirectionRun:
    """One direction of one layer over the whole sequence."""

    output: Tensor  # (B, T, hidden_size), zeros at padded steps
    h_n: Tensor  # (B, hidden_size), the state after the last real step
    c_n: Tensor | None  # (B, hidden_size) for the LSTM, else None
    cell_states: Tensor | None  # (B, T, hidden_size): recorded LSTM runs only
    gates: dict[str, Tensor]  # name -> (B, T, hidden_size): recorded runs only


def cell_step(
    mode: str, x_t: Tensor, h: Tensor, c: Tensor | None, weights: CellWeights
) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
    """One step of the cell of torch's `mode`: (h_t, c_t or None, gates), each (B, hidden_size)."""
    if mode == "LSTM":
        assert c is not None, "an LSTM step needs the cell state c"
        return lstm_step(x_t, h, c, *weights)
    if mode == "GRU":
        h_next, gates = gru_step(x_t, h, *weights)  # (B, hidden_size)
        return h_next, None, gates
    nonlinearity = "tanh" if mode == "RNN_TANH" else "relu"
    return rnn_step(x_t, h, *weights, nonlinearity=nonlinearity), None, {}


def _run_direction(
    mode: str,
    weights: CellWeights,
    inputs: Tensor,
    h: Tensor,
    c: Tensor | None,
    valid: Tensor | None,
    *,
    reverse: bool,
    record: bool,
) -> _DirectionRun:
    """Run one direction over inputs (B, T, F or num_directions*hidden_size) from h and c
    (B, hidden_size); valid (B, T) marks real steps (None: every step is real)."""
    steps = inputs.size(1)
    is_lstm = mode == "LSTM"
    outputs: list[Tensor] = [inputs.new_empty(0)] * steps
    cells: list[Tensor] = [inputs.new_empty(0)] * steps
    gates_per_step: list[dict[str, Tensor]] = [{}] * steps
    # The reverse direction reads the sequence backwards; with lengths it effectively starts at
    # each sequence's last real step because the later (padded) steps leave the state as it was.
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        h_new, c_new, gates = cell_step(mode, inputs[:, t], h, c, weights)  # (B, hidden_size)
        if valid is None:
            h, c = h_new, c_new
            outputs[t] = h_new  # (B, hidden_size)
        else:
            keep = valid[:, t, None]  # (B, 1)
            h = torch.where(keep, h_new, h)  # (B, hidden_size)
            if c is not None and c_new is not None:
                c = torch.where(keep, c_new, c)  # (B, hidden_size)
            outputs[t] = h_new.masked_fill(~keep, 0.0)  # (B, hidden_size)
            if record:  # the trace shows zeros at padded steps too, like the output
                if c_new is not None:
                    c_new = c_new.masked_fill(~keep, 0.0)  # (B, hidden_size)
                gates = {k: v.masked_fill(~keep, 0.0) for k, v in gates.items()}  # (B, hidden_size)
        if record:
            if c_new is not None:
                cells[t] = c_new  # (B, hidden_size)
            gates_per_step[t] = gates
    output = torch.stack(outputs, dim=1)  # (B, T, hidden_size)
    if not record:
        return _DirectionRun(output, h, c, None, {})
    cell_states = torch.stack(cells, dim=1) if is_lstm else None  # (B, T, hidden_size)
    stacked_gates = {
        name: torch.stack([g[name] for g in gates_per_step], dim=1) for name in gates_per_step[0]
    }  # name -> (B, T, hidden_size)
    return _DirectionRun(output, h, c, cell_states, stacked_gates)


def reference_forward(
    params: RecurrentParameters,
    inputs: LayerInputs,
    *,
    dropout: float,
    training: bool,
    record: bool = False,
) -> tuple[Tensor, State, list[list[_DirectionRun]]]:
    """Run inputs.x (B, T, F) from (h0, c0) step by step. Returns (output
    (B, T, num_directions*hidden_size), final state, every layer's direction runs, with per-step
    states and gates when `record`)."""
    x, h0, c0, lengths = inputs
    valid = None
    if lengths is not None:
        valid = padding_mask(lengths.to(x.device), x.size(1))  # (B, T) True = real step
    runs: list[list[_DirectionRun]] = []
    layer_input = x  # (B, T, F) for layer 0, then (B, T, num_directions*hidden_size)
    for layer in range(params.num_layers):
        layer_runs = []
        for direction in range(params.num_directions):
            row = layer * params.num_directions + direction
            run = _run_direction(
                params.mode,
                params.cell_weights(layer, direction),
                layer_input,
                h0[row],  # (B, hidden_size)
                None if c0 is None else c0[row],  # (B, hidden_size)
                valid,
                reverse=direction == 1,
                record=record,
            )
            layer_runs.append(run)
        runs.append(layer_runs)
        # (B, T, num_directions*hidden_size) from here on
        layer_output = torch.cat([run.output for run in layer_runs], dim=-1)
        if layer < params.num_layers - 1 and dropout > 0:
            # Between layers only, as torch does; F.dropout is the identity in eval mode.
            layer_output = F.dropout(layer_output, dropout, training)
        layer_input = layer_output

    every_run = [run for layer_runs in runs for run in layer_runs]
    h_n = torch.stack([run.h_n for run in every_run], dim=0)  # (L*num_directions, B, hidden_size)
    if c0 is None:
        return layer_input, h_n, runs
    cells = [run.c_n for run in every_run if run.c_n is not None]  # an LSTM's: every run's
    c_n = torch.stack(cells, dim=0)  # (L*num_directions, B, hidden_size)
    return layer_input, (h_n, c_n), runs


def reference_trace(
    params: RecurrentParameters, inputs: LayerInputs, *, dropout: float, training: bool
) -> RecurrentTrace:
    """`reference_forward` keeping every step: the layer's `trace()`."""
    output, state, runs = reference_forward(
        params, inputs, dropout=dropout, training=training, record=True
    )
    cell_states = None
    if inputs.c0 is not None:
        cell_states = tuple(
            tuple(run.cell_states for run in layer_runs if run.cell_states is not None)
            for layer_runs in runs
        )
    return RecurrentTrace(
        output=output,
        state=state,
        hidden_states=tuple(tuple(run.output for run in layer_runs) for layer_runs in runs),
        cell_states=cell_states,
        gates=tuple(tuple(run.gates for run in layer_runs) for layer_runs in runs),
        lengths=inputs.lengths,
    )
