"""Recurrent cells: the single-step math of the vanilla RNN, the LSTM and the GRU, written once.

Every recurrent computation in seqlab (the cell modules below, the reference path of
`seqlab.nn.recurrent`, and the per-step traces the lab and the web page read) goes through the three
step functions of this file: `rnn_step`, `lstm_step` and `gru_step`. The fused path of
`seqlab.nn.recurrent` runs torch's kernels instead, and the tests prove both agree with `torch.nn`.

References and the equations implemented (study material's notation first, torch's second):

- Vanilla (Elman) RNN — J. L. Elman, "Finding Structure in Time", Cognitive Science 14, 1990:
      h_t = tanh(W_x x_t + W_h h_{t-1} + b)
  torch writes W_x as `weight_ih` (hidden_size, F), W_h as `weight_hh` (hidden_size, hidden_size)
  and splits b into `bias_ih + bias_hh` (two biases only for cuDNN compatibility; their sum is the
  textbook b).
  `nonlinearity="relu"` replaces tanh by max(0, .).

- LSTM — S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997,
  with the forget gate of F. A. Gers, J. Schmidhuber and F. Cummins, "Learning to Forget", 2000:
      f_t = σ(W_f [h_{t-1}, x_t] + b_f)          forget gate
      i_t = σ(W_i [h_{t-1}, x_t] + b_i)          input gate
      g_t = tanh(W_g [h_{t-1}, x_t] + b_g)       cell candidate (the material's C~_t)
      o_t = σ(W_o [h_{t-1}, x_t] + b_o)          output gate
      c_t = f_t * c_{t-1} + i_t * g_t
      h_t = o_t * tanh(c_t)
  Weight layout: torch splits each W_k [h_{t-1}, x_t] into W_ik x_t + W_hk h_{t-1} and stacks the
  four gates row-wise in the order i, f, g, o: `weight_ih` is (4*hidden_size, F) =
  [W_ii; W_if; W_ig; W_io], `weight_hh` is (4*hidden_size, hidden_size) = [W_hi; W_hf; W_hg; W_ho],
  and b_k = b_ik + b_hk. No peepholes.

- GRU — K. Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for Statistical
  Machine Translation", EMNLP 2014, in torch's (cuDNN's) form:
      r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)              reset gate
      z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)              update gate
      n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))   new (candidate) state
      h_t = (1 - z_t) * n_t + z_t * h_{t-1}
  Two deviations from Cho et al., both kept so torch's weights load and results match torch:
  the reset gate multiplies W_hn h_{t-1} + b_hn *after* the matrix product (Cho: W (r * h)), and
  z_t weights the *previous* state (Cho: h_t = z_t * h_{t-1} + (1 - z_t) * h~_t, with the roles of
  z and 1 - z written the other way round in some texts).
  `weight_ih` is (3*hidden_size, F) = [W_ir; W_iz; W_in] and `weight_hh` is
  (3*hidden_size, hidden_size) = [W_hr; W_hz; W_hn].

Shapes (the repository's legend): B batch, F input features (input_size); the hidden width is
written out as hidden_size, since H means heads. The cells are always batched: x is (B, F).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.recurrent_checks import (
    NONLINEARITIES,
    check_bool,
    check_features,
    check_nonlinearity,
    check_positive_int,
)

__all__ = [
    "GRU_GATES",
    "LSTM_GATES",
    "GRUCell",
    "LSTMCell",
    "NONLINEARITIES",
    "RNNCell",
    "empty_parameter",
    "gru_step",
    "lstm_step",
    "reset_recurrent_parameters",
    "rnn_step",
]

# Gate names in torch's row order inside weight_ih / weight_hh.
LSTM_GATES: tuple[str, ...] = ("i", "f", "g", "o")
GRU_GATES: tuple[str, ...] = ("r", "z", "n")


def rnn_step(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    *,
    nonlinearity: str = "tanh",
) -> Tensor:
    """One vanilla RNN step: h_t = tanh(W_x x_t + W_h h_{t-1} + b) (or relu).

    x is (B, F), h is (B, hidden_size), weight_ih (hidden_size, F), weight_hh
    (hidden_size, hidden_size), biases (hidden_size,) or None. Returns the new hidden state
    (B, hidden_size). The RNN has no gates, so nothing else is returned.
    """
    check_nonlinearity(nonlinearity)
    pre = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # (B, hidden_size)
    if nonlinearity == "tanh":
        return torch.tanh(pre)  # (B, hidden_size)
    return torch.relu(pre)  # (B, hidden_size)


def lstm_step(
    x: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """One LSTM step (torch's gate order i, f, g, o; see the module docstring for the equations).

    x is (B, F), h and c are (B, hidden_size), weight_ih (4*hidden_size, F), weight_hh
    (4*hidden_size, hidden_size), biases (4*hidden_size,) or None. Returns (h_t, c_t, gates) with
    gates = {"i": i_t, "f": f_t, "g": g_t, "o": o_t}, each (B, hidden_size), the activations after
    their sigmoid / tanh.
    """
    # One matrix product per operand for all four gates, then split: same sums as torch's kernel.
    pre = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # (B, 4*hidden_size)
    pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=-1)  # 4 x (B, hidden_size)
    i = torch.sigmoid(pre_i)  # (B, hidden_size)
    f = torch.sigmoid(pre_f)  # (B, hidden_size)
    g = torch.tanh(pre_g)  # (B, hidden_size)
    o = torch.sigmoid(pre_o)  # (B, hidden_size)
    c_next = f * c + i * g  # (B, hidden_size)
    h_next = o * torch.tanh(c_next)  # (B, hidden_size)
    return h_next, c_next, {"i": i, "f": f, "g": g, "o": o}


def gru_step(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """One GRU step in torch's form (gate order r, z, n; see the module docstring).

    x is (B, F), h is (B, hidden_size), weight_ih (3*hidden_size, F), weight_hh
    (3*hidden_size, hidden_size), biases (3*hidden_size,) or None. Returns (h_t, gates) with
    gates = {"r": r_t, "z": z_t, "n": n_t}, each (B, hidden_size).
    """
    # The input and hidden projections stay separate: the reset gate scales only the hidden
    # part of the candidate (W_hn h + b_hn), which is torch's formula.
    in_r, in_z, in_n = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)  # 3 x (B, hidden_size)
    hid_r, hid_z, hid_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)  # 3 x (B, hidden_size)
    r = torch.sigmoid(in_r + hid_r)  # (B, hidden_size)
    z = torch.sigmoid(in_z + hid_z)  # (B, hidden_size)
    n = torch.tanh(in_n + r * hid_n)  # (B, hidden_size)
    h_next = (1 - z) * n + z * h  # (B, hidden_size)
    return h_next, {"r": r, "z": z, "n": n}


def empty_parameter(
    shape: tuple[int, ...], *, device: torch.device | str | None, dtype: torch.dtype | None
) -> nn.Parameter:
    """An uninitialised parameter; `reset_recurrent_parameters` fills it once all exist."""
    return nn.Parameter(torch.empty(shape, device=device, dtype=dtype))


def reset_recurrent_parameters(module: nn.Module, hidden_size: int) -> None:
    """torch's recurrent init, for cells and layers alike: every parameter of `module`, in
    registration order, uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)].

    The order and the draws are torch.nn.RNNBase's and RNNCellBase's `reset_parameters`, so the
    same seed gives the same tensors as the matching torch.nn module.
    """
    bound = 1.0 / math.sqrt(hidden_size)
    for weight in module.parameters():
        nn.init.uniform_(weight, -bound, bound)


class _CellBase(nn.Module):
    """Parameters and checks shared by the three cells, laid out like torch.nn.RNNCellBase.

    Arguments follow torch's cells: (input_size, hidden_size, bias=True), plus device and dtype.
    """

    gate_rows: int  # blocks of hidden_size rows in weight_ih and weight_hh: 1, 4 (LSTM), 3 (GRU)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        check_bool("bias", bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gate_size = self.gate_rows * hidden_size
        self.weight_ih = empty_parameter((gate_size, input_size), device=device, dtype=dtype)
        self.weight_hh = empty_parameter((gate_size, hidden_size), device=device, dtype=dtype)
        if bias:
            self.bias_ih = empty_parameter((gate_size,), device=device, dtype=dtype)
            self.bias_hh = empty_parameter((gate_size,), device=device, dtype=dtype)
        else:
            # Registered as None (like torch) so `cell.bias_ih` exists and state dicts match.
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's init: every parameter uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)]."""
        reset_recurrent_parameters(self, self.hidden_size)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        return text

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} takes a batched step x of shape (B, F), got shape "
                f"{tuple(x.shape)}"
            )
        check_features(x, self.input_size, self.weight_ih.dtype)

    def _state_or_zeros(self, x: Tensor, state: Tensor | None, what: str) -> Tensor:
        expected = (x.size(0), self.hidden_size)
        if state is None:
            return x.new_zeros(expected)  # (B, hidden_size)
        if tuple(state.shape) != expected:
            raise ValueError(
                f"{what} must have shape (B, hidden_size) = {expected}, got {tuple(state.shape)}"
            )
        return state


class RNNCell(_CellBase):
    """Vanilla RNN cell, h' = tanh(W_ih x + b_ih + W_hh h + b_hh); a drop-in for torch.nn.RNNCell.

    forward(x (B, F), state (B, hidden_size) or None) -> h' (B, hidden_size). None means a zero
    state.
    """

    gate_rows = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"

    def forward(self, x: Tensor, state: Tensor | None = None) -> Tensor:
        self._check_input(x)
        h = self._state_or_zeros(x, state, "state")  # (B, hidden_size)
        return rnn_step(
            x,
            h,
            self.weight_ih,
            self.weight_hh,
            self.bias_ih,
            self.bias_hh,
            nonlinearity=self.nonlinearity,
        )  # (B, hidden_size)


class LSTMCell(_CellBase):
    """LSTM cell (gate order i, f, g, o); a drop-in for torch.nn.LSTMCell (no projection).

    forward(x (B, F), state (h, c) each (B, hidden_size) or None) -> (h', c'). None means zero h
    and c.
    """

    gate_rows = 4

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        self._check_input(x)
        if state is None:
            h = c = self._state_or_zeros(x, None, "h")  # (B, hidden_size)
        else:
            if not isinstance(state, tuple | list) or len(state) != 2:
                raise ValueError("LSTMCell's state must be a pair (h, c) of (B, hidden_size)")
            h = self._state_or_zeros(x, state[0], "h")  # (B, hidden_size)
            c = self._state_or_zeros(x, state[1], "c")  # (B, hidden_size)
        h_next, c_next, _ = lstm_step(
            x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        )  # (B, hidden_size), (B, hidden_size)
        return h_next, c_next


class GRUCell(_CellBase):
    """GRU cell in torch's form (gate order r, z, n); a drop-in for torch.nn.GRUCell.

    forward(x (B, F), state (B, hidden_size) or None) -> h' (B, hidden_size). None means a zero
    state.
    """

    gate_rows = 3

    def forward(self, x: Tensor, state: Tensor | None = None) -> Tensor:
        self._check_input(x)
        h = self._state_or_zeros(x, state, "state")  # (B, hidden_size)
        h_next, _ = gru_step(
            x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        )  # (B, hidden_size)
        return h_next
