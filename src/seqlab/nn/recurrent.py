"""Recurrent layers RNN, LSTM and GRU: two execution paths over one torch-compatible parameter set.

References: the cell equations and papers are listed in `seqlab.nn.cells` (Elman 1990; Hochreiter
and Schmidhuber 1997 with Gers et al. 2000's forget gate; Cho et al. 2014 in torch's form). Stacking
and bidirectionality follow torch.nn.RNN/LSTM/GRU: layer l > 0 reads the concatenation of both
directions of layer l - 1 (M. Schuster and K. K. Paliwal, "Bidirectional Recurrent Neural
Networks", 1997), and dropout is applied to each layer's output except the last one's, in training
mode only (W. Zaremba, I. Sutskever and O. Vinyals, "Recurrent Neural Network Regularization",
2014).

The two paths (DESIGN.md "Two paths, one set of weights"), picked by the `impl` attribute:

- ``"fused"`` (default) calls torch's fused kernels (`torch._VF.lstm`, `gru`, `rnn_tanh`,
  `rnn_relu`) exactly the way torch.nn.RNNBase.forward does, including the packed-sequence variant
  for `lengths`, so speed is torch's.
- ``"reference"`` is a Python loop over layers, directions and time steps that calls the step
  functions of `seqlab.nn.cells`; `trace` uses it to return every step's hidden state and gates.

Layout decisions (read these before wiring a layer into a model):

- Inputs and outputs are batch-first: x is (B, T, F) and output is (B, T, D*H), D = 2 when
  bidirectional. ``batch_first=False`` is refused rather than silently ignored.
- The state keeps torch's layer-major layout even though inputs are batch-first: h is
  (L*D, B, H) with row ``layer * D + direction`` (direction 1 is the reverse one), and the LSTM's
  state is the pair (h, c) of that shape. A state from torch.nn therefore carries over unchanged.
- ``lengths`` (B,) gives each sequence's true length. Outputs past a sequence's length are zero and
  the final state is the state at its true last step; the reverse direction starts at each
  sequence's last real step. This is exactly torch's `pack_padded_sequence(enforce_sorted=False)`
  followed by `pad_packed_sequence(total_length=T)`.

Shapes: B batch, T time steps, F input features, H hidden size, L layers, D directions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.nn.cells import NONLINEARITIES, gru_step, lstm_step, rnn_step

__all__ = ["GRU", "IMPLS", "LSTM", "RNN", "RecurrentTrace"]

IMPLS: tuple[str, ...] = ("reference", "fused")

# A layer's state: h (L*D, B, H) for RNN and GRU, the pair (h, c) for LSTM.
State = Tensor | tuple[Tensor, Tensor]

# torch's fused kernels, by mode; the same table torch.nn.RNN uses.
_FUSED_KERNELS = {
    "RNN_TANH": _VF.rnn_tanh,
    "RNN_RELU": _VF.rnn_relu,
    "LSTM": _VF.lstm,
    "GRU": _VF.gru,
}
_GATE_ROWS = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


@dataclass(frozen=True)
class RecurrentTrace:
    """Everything one reference-path run computed, step by step (what the lab and web page read).

    Indexing is ``[layer][direction]`` (direction 0 forward, 1 reverse). Every per-step tensor is
    (B, T, H) in input time order, also for the reverse direction (its entry at t is the state after
    reading x_t, which it reaches after reading x_{T-1} ... x_t). Steps past a sequence's length are
    zero, like the layer's output.

    Fields:
        output: (B, T, D*H), equal to the layer's forward output.
        state: final state in torch's layout, (L*D, B, H) or the LSTM pair (h, c).
        hidden_states: h_t per layer and direction, (B, T, H) each.
        cell_states: the LSTM's c_t per layer and direction, (B, T, H); None for RNN and GRU.
        gates: gate activations per layer and direction, name -> (B, T, H): "i", "f", "g", "o"
            for LSTM, "r", "z", "n" for GRU, and an empty dict for the vanilla RNN (no gates).
        lengths: the lengths used (CPU int64, (B,)), or None when every sequence is full length.
    """

    output: Tensor
    state: State
    hidden_states: tuple[tuple[Tensor, ...], ...]
    cell_states: tuple[tuple[Tensor, ...], ...] | None
    gates: tuple[tuple[dict[str, Tensor], ...], ...]
    lengths: Tensor | None


class _RecurrentBase(nn.Module):
    """What RNN, LSTM and GRU share: torch's parameter layout, checks and both execution paths."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        *,
        impl: str,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if batch_first is not True:
            raise ValueError(
                f"batch_first must be True, got {batch_first!r}: seqlab layers are always "
                f"batch-first, x is (B, T, F); transpose time-major input with x.transpose(0, 1)"
            )
        for arg, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {bias!r}")
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {bidirectional!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not (0 <= dropout < 1)
        ):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout ({dropout}) is applied between layers only, so it has no effect "
                f"with num_layers=1",
                UserWarning,
                stacklevel=3,
            )
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = True
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.impl = impl  # validated by the property setter

        # Parameters with torch.nn's names, shapes and registration order, so that a torch state
        # dict loads unchanged and the flat list below is the one torch's kernels expect.
        gate_size = _GATE_ROWS[mode] * hidden_size
        factory = {"device": device, "dtype": dtype}
        self._weight_names: list[str] = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {
                    "weight_ih": (gate_size, layer_input_size),
                    "weight_hh": (gate_size, hidden_size),
                }
                if bias:
                    shapes |= {"bias_ih": (gate_size,), "bias_hh": (gate_size,)}
                for stem, shape in shapes.items():
                    setattr(self, stem + suffix, nn.Parameter(torch.empty(shape, **factory)))
                    self._weight_names.append(stem + suffix)
        self.reset_parameters()
        self.flatten_parameters()

    # ----------------------------------------------------------------------------------- config

    @property
    def impl(self) -> str:
        """Which path `forward` and `step` run: "fused" (torch's kernels) or "reference"."""
        return self._impl

    @impl.setter
    def impl(self, value: str) -> None:
        if value not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {value!r}")
        self._impl = value

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Width of `forward`'s output: D * hidden_size."""
        return self.num_directions * self.hidden_size

    def reset_parameters(self) -> None:
        """torch's init: every parameter uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)]."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text + f", impl={self.impl!r}"

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """A zero state in torch's layout: (L*D, B, H), or the pair (h, c) for LSTM.

        device and dtype default to the parameters'.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        reference = self.weight_ih_l0
        h = torch.zeros(
            self.num_layers * self.num_directions,
            batch_size,
            self.hidden_size,
            device=reference.device if device is None else device,
            dtype=reference.dtype if dtype is None else dtype,
        )  # (L*D, B, H)
        if self.mode == "LSTM":
            return h, torch.zeros_like(h)
        return h

    # ------------------------------------------------------------------------- public calls

    def forward(
        self,
        x: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, State]:
        """Run the whole sequence x (B, T, F) from `state` (zeros when None).

        Returns (output (B, T, D*H), final state in torch's layer-major layout). Passing the
        returned state to the next call continues the sequence, so a long sequence can be fed in
        chunks. `lengths` (B,) are the true lengths of right-padded sequences (module docstring).
        """
        h0, c0 = self._check_state(x, state)
        lengths = self._check_lengths(x, lengths)
        if self.impl == "fused":
            return self._fused_forward(x, h0, c0, lengths)
        output, final_state, _ = self._reference_forward(x, h0, c0, lengths, record=False)
        return output, final_state

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Advance one time step for streaming: x_t (B, F) -> (output (B, H), new state).

        Runs the layer's current `impl`. Calling `step` over a sequence, feeding back the state,
        gives the same outputs and final state as one `forward` over the whole sequence.
        """
        if self.bidirectional:
            raise ValueError(
                f"{type(self).__name__}.step needs a unidirectional layer: the reverse direction "
                f"of a bidirectional layer needs the whole sequence; call forward(x) instead"
            )
        if x_t.dim() != 2:
            raise ValueError(f"step takes x_t of shape (B, F), got shape {tuple(x_t.shape)}")
        output, new_state = self.forward(x_t.unsqueeze(1), state)  # (B, 1, H)
        return output.squeeze(1), new_state  # (B, H)

    def trace(
        self,
        x: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> RecurrentTrace:
        """Run the reference path (whatever `impl` is) and return every step's states and gates.

        Dropout between layers applies as in `forward` (training mode only); call `eval()` first
        for a deterministic trace. Autograd records the run like forward does; wrap the call in
        `torch.no_grad()` when only displaying it.
        """
        h0, c0 = self._check_state(x, state)
        lengths = self._check_lengths(x, lengths)
        output, final_state, record = self._reference_forward(x, h0, c0, lengths, record=True)
        hidden_states, cell_states, gates = record
        return RecurrentTrace(
            output=output,
            state=final_state,
            hidden_states=hidden_states,
            cell_states=cell_states if self.mode == "LSTM" else None,
            gates=gates,
            lengths=lengths,
        )

    # ---------------------------------------------------------------------------- fused path

    def _fused_forward(
        self, x: Tensor, h0: Tensor, c0: Tensor | None, lengths: Tensor | None
    ) -> tuple[Tensor, State]:
        # Same call sequence as torch.nn.RNNBase.forward: a Python list of the parameters (cheap,
        # and it follows parameter swaps such as torch.func.functional_call), no copies.
        weights = [getattr(self, name) for name in self._weight_names]
        kernel = _FUSED_KERNELS[self.mode]
        hx = (h0, c0) if self.mode == "LSTM" else h0
        if lengths is None:
            result = kernel(
                x,
                hx,
                weights,
                self.bias,
                self.num_layers,
                self.dropout,
                self.training,
                self.bidirectional,
                True,  # batch_first
            )
            output = result[0]  # (B, T, D*H)
            final = (result[1], result[2]) if self.mode == "LSTM" else result[1]
            return output, final

        # Packed variant: sort by length (pack does it), run on the packed data, then unsort the
        # state and pad the output back to T steps with zeros.
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        sorted_idx, unsorted_idx = packed.sorted_indices, packed.unsorted_indices
        if self.mode == "LSTM":
            hx = (h0.index_select(1, sorted_idx), c0.index_select(1, sorted_idx))
        else:
            hx = h0.index_select(1, sorted_idx)  # (L*D, B, H)
        result = kernel(
            packed.data,
            packed.batch_sizes,
            hx,
            weights,
            self.bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
        )
        output, _ = pad_packed_sequence(
            PackedSequence(result[0], packed.batch_sizes, sorted_idx, unsorted_idx),
            batch_first=True,
            total_length=x.size(1),
        )  # (B, T, D*H)
        if self.mode == "LSTM":
            final = (
                result[1].index_select(1, unsorted_idx),  # (L*D, B, H)
                result[2].index_select(1, unsorted_idx),  # (L*D, B, H)
            )
        else:
            final = result[1].index_select(1, unsorted_idx)  # (L*D, B, H)
        return output, final

    def flatten_parameters(self) -> None:
        """Put the weights in one contiguous cuDNN buffer, as torch.nn.RNNBase does.

        Only acts on CUDA with cuDNN (otherwise a no-op); without it cuDNN would copy the weights
        into such a buffer on every call. Called at construction and after `.to()` / `.cuda()`.
        """
        weights = [getattr(self, name) for name in self._weight_names]
        dtype = weights[0].dtype
        for weight in weights:
            if (
                weight.dtype != dtype
                or not weight.is_cuda
                or not torch.backends.cudnn.is_acceptable(weight)
            ):
                return
        # Aliased parameters cannot be flattened without breaking the aliasing; torch skips too.
        if len({weight.data_ptr() for weight in weights}) != len(weights):
            return
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(weights[0]), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    4 if self.bias else 2,
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(self.mode),
                    self.hidden_size,
                    0,  # proj_size
                    self.num_layers,
                    True,
                    self.bidirectional,  # batch_first
                )

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        # Moving to a new device or dtype replaces the storages; re-flatten like torch does.
        self.flatten_parameters()
        return result

    # ------------------------------------------------------------------------ reference path

    def _cell(
        self, x_t: Tensor, h: Tensor, c: Tensor | None, weights: tuple[Tensor | None, ...]
    ) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
        """One step of this layer's cell: (h_t, c_t or None, gates)."""
        if self.mode == "LSTM":
            return lstm_step(x_t, h, c, *weights)
        if self.mode == "GRU":
            h_next, gates = gru_step(x_t, h, *weights)  # (B, H)
            return h_next, None, gates
        nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
        return rnn_step(x_t, h, *weights, nonlinearity=nonlinearity), None, {}

    def _direction_weights(self, layer: int, direction: int) -> tuple[Tensor | None, ...]:
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        if not self.bias:
            return getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        stems = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return tuple(getattr(self, stem + suffix) for stem in stems)

    def _reference_forward(
        self,
        x: Tensor,
        h0: Tensor,
        c0: Tensor | None,
        lengths: Tensor | None,
        *,
        record: bool,
    ) -> tuple[Tensor, State, tuple]:
        steps = x.size(1)
        is_lstm = self.mode == "LSTM"
        # valid[b, t]: step t is a real token of sequence b. Padded steps leave the state as it
        # was and output zeros, which is what the packed fused kernel computes.
        valid = None
        if lengths is not None:
            valid = torch.arange(steps, device=x.device) < lengths.to(x.device)[:, None]  # (B, T)

        final_h, final_c = [], []
        hidden_record, cell_record, gate_record = [], [], []
        layer_input = x  # (B, T, F) for layer 0, then (B, T, D*H)
        for layer in range(self.num_layers):
            direction_outputs = []
            layer_hidden, layer_cell, layer_gates = [], [], []
            for direction in range(self.num_directions):
                weights = self._direction_weights(layer, direction)
                row = layer * self.num_directions + direction
                h = h0[row]  # (B, H)
                c = c0[row] if is_lstm else None  # (B, H)
                outputs: list[Tensor] = [x.new_empty(0)] * steps
                cells: list[Tensor] = [x.new_empty(0)] * steps
                gates_per_step: list[dict[str, Tensor]] = [{}] * steps
                # The reverse direction reads the sequence backwards; with lengths it effectively
                # starts at each sequence's last real step because earlier (padded) steps are held.
                time_order = range(steps) if direction == 0 else range(steps - 1, -1, -1)
                for t in time_order:
                    h_new, c_new, gates = self._cell(layer_input[:, t], h, c, weights)  # (B, H)
                    if valid is None:
                        h, c = h_new, c_new
                        outputs[t] = h_new  # (B, H)
                    else:
                        keep = valid[:, t, None]  # (B, 1)
                        h = torch.where(keep, h_new, h)  # (B, H)
                        c = torch.where(keep, c_new, c) if is_lstm else None  # (B, H)
                        outputs[t] = h_new.masked_fill(~keep, 0.0)  # (B, H)
                        if record:
                            c_new = c_new.masked_fill(~keep, 0.0) if is_lstm else None
                            gates = {k: v.masked_fill(~keep, 0.0) for k, v in gates.items()}
                    if record:
                        cells[t] = c_new
                        gates_per_step[t] = gates
                final_h.append(h)
                final_c.append(c)
                direction_output = torch.stack(outputs, dim=1)  # (B, T, H)
                direction_outputs.append(direction_output)
                if record:
                    layer_hidden.append(direction_output)
                    if is_lstm:
                        layer_cell.append(torch.stack(cells, dim=1))  # (B, T, H)
                    layer_gates.append(
                        {
                            name: torch.stack([g[name] for g in gates_per_step], dim=1)
                            for name in gates_per_step[0]
                        }
                    )  # name -> (B, T, H)
            layer_output = torch.cat(direction_outputs, dim=-1)  # (B, T, D*H)
            if record:
                hidden_record.append(tuple(layer_hidden))
                cell_record.append(tuple(layer_cell))
                gate_record.append(tuple(layer_gates))
            if layer < self.num_layers - 1 and self.dropout > 0:
                # Between layers only, as torch does; F.dropout is the identity in eval mode.
                layer_output = F.dropout(layer_output, self.dropout, self.training)  # (B, T, D*H)
            layer_input = layer_output

        h_n = torch.stack(final_h, dim=0)  # (L*D, B, H)
        final_state: State = (h_n, torch.stack(final_c, dim=0)) if is_lstm else h_n
        record_out = (tuple(hidden_record), tuple(cell_record), tuple(gate_record))
        return layer_input, final_state, record_out

    # -------------------------------------------------------------------------------- checks

    def _check_state(self, x: Tensor, state: State | None) -> tuple[Tensor, Tensor | None]:
        """Check x and the state; return (h0, c0) with zeros for a missing state (c0 None if not
        an LSTM)."""
        name = type(self).__name__
        if x.dim() != 3:
            raise ValueError(
                f"{name} takes batch-first x of shape (B, T, F), got shape {tuple(x.shape)}"
            )
        if x.size(1) == 0:
            raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
        if x.size(-1) != self.input_size:
            raise ValueError(
                f"input_size ({self.input_size}) must match x's last dimension ({x.size(-1)})"
            )
        weight_dtype = self.weight_ih_l0.dtype
        if x.dtype != weight_dtype:
            raise ValueError(
                f"x's dtype ({x.dtype}) must match the parameters' dtype ({weight_dtype})"
            )
        expected = (self.num_layers * self.num_directions, x.size(0), self.hidden_size)
        if state is None:
            h0 = x.new_zeros(expected)  # (L*D, B, H)
            return h0, (torch.zeros_like(h0) if self.mode == "LSTM" else None)
        if self.mode == "LSTM":
            if not isinstance(state, tuple | list) or len(state) != 2:
                raise ValueError(
                    f"LSTM's state must be a pair (h, c), each of shape (L*D, B, H) = {expected}"
                )
            parts = {"h": state[0], "c": state[1]}
        else:
            if not isinstance(state, Tensor):
                raise ValueError(
                    f"{name}'s state must be one tensor of shape (L*D, B, H) = {expected}, "
                    f"got {type(state).__name__}"
                )
            parts = {"state": state}
        for part, tensor in parts.items():
            if tuple(tensor.shape) != expected:
                raise ValueError(
                    f"{part} must have torch's layer-major shape (num_layers * num_directions, B, "
                    f"hidden_size) = {expected}, got {tuple(tensor.shape)}"
                )
            if tensor.dtype != x.dtype:
                raise ValueError(
                    f"{part}'s dtype ({tensor.dtype}) must match x's dtype ({x.dtype})"
                )
        if self.mode == "LSTM":
            return state[0], state[1]
        return state, None

    def _check_lengths(self, x: Tensor, lengths: Tensor | Sequence[int] | None) -> Tensor | None:
        """Validate lengths and return them as a CPU int64 tensor (what packing needs)."""
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths)
        dtype = lengths.dtype
        if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
            raise ValueError(f"lengths must hold integers, got dtype {lengths.dtype}")
        batch, steps = x.size(0), x.size(1)
        if tuple(lengths.shape) != (batch,):
            raise ValueError(
                f"lengths must have shape (B,) = ({batch},), got {tuple(lengths.shape)}"
            )
        lengths = lengths.to(device="cpu", dtype=torch.int64)
        shortest, longest = int(lengths.min()), int(lengths.max())
        if shortest < 1 or longest > steps:
            raise ValueError(
                f"every length must be in [1, T] = [1, {steps}], got min {shortest} and max "
                f"{longest} in lengths {lengths.tolist()}"
            )
        return lengths


class RNN(_RecurrentBase):
    """Stacked (optionally bidirectional) Elman RNN, h_t = tanh(W_ih x_t + W_hh h_{t-1} + b).

    Arguments follow torch.nn.RNN, positional order included (nonlinearity is fourth), except that
    batch_first must stay True, plus keyword-only `impl` ("fused" or "reference").
    State: (L*D, B, H).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: str = "fused",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTM(_RecurrentBase):
    """Stacked (optionally bidirectional) LSTM with torch's gates i, f, g, o (no projection).

    Arguments follow torch.nn.LSTM (without proj_size) except that batch_first must stay True, plus
    keyword-only `impl`. State: the pair (h, c), each (L*D, B, H).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: str = "fused",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            device=device,
            dtype=dtype,
        )


class GRU(_RecurrentBase):
    """Stacked (optionally bidirectional) GRU in torch's form, gates r, z, n.

    Arguments follow torch.nn.GRU except that batch_first must stay True, plus keyword-only `impl`.
    State: (L*D, B, H).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: str = "fused",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            impl=impl,
            device=device,
            dtype=dtype,
        )
