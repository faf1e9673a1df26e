"""Cells of seqlab.nn.cells against torch.nn.RNNCell / LSTMCell / GRUCell, plus gradchecks.

Parity tier: same state dict, same inputs, whole tensors compared. Unit tier: gate order and
equations read back from the step functions, error messages.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from seqlab.nn.cells import (
    GRUCell,
    LSTMCell,
    RNNCell,
    gru_step,
    lstm_step,
    reset_recurrent_parameters,
    rnn_step,
)

INPUT, HIDDEN, BATCH = 4, 3, 5

# name -> (seqlab cell class, torch cell class, extra constructor kwargs)
CELLS = {
    "rnn_tanh": (RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, nn.LSTMCell, {}),
    "gru": (GRUCell, nn.GRUCell, {}),
}
TOLERANCES = {
    torch.float32: {"atol": 1e-6, "rtol": 1e-5},
    torch.float64: {"atol": 1e-13, "rtol": 0.0},
}


def _pair(name: str, *, bias: bool = True, dtype: torch.dtype = torch.float64):
    ours_cls, torch_cls, kwargs = CELLS[name]
    torch.manual_seed(0)
    theirs = torch_cls(INPUT, HIDDEN, bias=bias, dtype=dtype, **kwargs)
    ours = ours_cls(INPUT, HIDDEN, bias=bias, dtype=dtype, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_names_and_shapes_match_torch(name: str, bias: bool) -> None:
    ours, theirs = _pair(name, bias=bias)
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    theirs_shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours_shapes == theirs_shapes
    # And the other way round: our state dict loads into torch's cell, strictly.
    theirs.load_state_dict(ours.state_dict(), strict=True)


@pytest.mark.parametrize("name", list(CELLS))
def test_init_is_torch_uniform(name: str) -> None:
    ours_cls, _, kwargs = CELLS[name]
    cell = ours_cls(INPUT, 16, **kwargs)
    bound = 1.0 / math.sqrt(16)
    for param_name, param in cell.named_parameters():
        assert param.abs().max() <= bound, param_name
        # Spread over the interval, not a constant: a uniform sample of this size reaches 80%.
        assert param.abs().max() > 0.8 * bound, param_name


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_equals_torch_over_steps(name: str, dtype: torch.dtype, bias: bool) -> None:
    ours, theirs = _pair(name, bias=bias, dtype=dtype)
    torch.manual_seed(1)
    xs = torch.randn(3, BATCH, INPUT, dtype=dtype)
    ours_state, theirs_state = None, None
    for x in xs:  # a few steps, so the state path (not only the zero state) is compared
        ours_state = ours(x, ours_state)
        theirs_state = theirs(x, theirs_state)
        assert_close(ours_state, theirs_state, **TOLERANCES[dtype])


@pytest.mark.parametrize("name", list(CELLS))
def test_cell_gradients_equal_torch(name: str) -> None:
    ours, theirs = _pair(name)
    torch.manual_seed(2)
    x = torch.randn(BATCH, INPUT, dtype=torch.float64)
    h = torch.randn(BATCH, HIDDEN, dtype=torch.float64)
    state = (h, torch.randn_like(h)) if name == "lstm" else h
    grads = []
    for cell in (ours, theirs):
        x_in = x.clone().requires_grad_()
        out = cell(x_in, state)
        out = out[0] + 2 * out[1] if name == "lstm" else out
        out.pow(2).sum().backward()
        grads.append({"x": x_in.grad, **{k: p.grad for k, p in cell.named_parameters()}})
    assert_close(grads[0], grads[1], **TOLERANCES[torch.float64])


def _weights(gate_rows: int, *, seed: int = 0) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    shapes = [(BATCH, INPUT), (gate_rows * HIDDEN, INPUT), (gate_rows * HIDDEN, HIDDEN)]
    shapes += [(gate_rows * HIDDEN,), (gate_rows * HIDDEN,)]
    return [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes]


def test_gradcheck_rnn_step() -> None:
    x, w_ih, w_hh, b_ih, b_hh = _weights(1)
    h = torch.randn(BATCH, HIDDEN, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *a: rnn_step(*a, nonlinearity="tanh"), (x, h, w_ih, w_hh, b_ih, b_hh)
    )


def test_gradcheck_lstm_step() -> None:
    x, w_ih, w_hh, b_ih, b_hh = _weights(4)
    h = torch.randn(BATCH, HIDDEN, dtype=torch.float64, requires_grad=True)
    c = torch.randn(BATCH, HIDDEN, dtype=torch.float64, requires_grad=True)

    def run(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h_next, c_next, gates = lstm_step(*args)
        return (h_next, c_next, *gates.values())

    assert torch.autograd.gradcheck(run, (x, h, c, w_ih, w_hh, b_ih, b_hh))


def test_gradcheck_gru_step() -> None:
    x, w_ih, w_hh, b_ih, b_hh = _weights(3)
    h = torch.randn(BATCH, HIDDEN, dtype=torch.float64, requires_grad=True)

    def run(*args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h_next, gates = gru_step(*args)
        return (h_next, *gates.values())

    assert torch.autograd.gradcheck(run, (x, h, w_ih, w_hh, b_ih, b_hh))


@pytest.mark.parametrize("name", list(CELLS))
def test_gradcheck_cell_modules(name: str) -> None:
    ours, _ = _pair(name)
    torch.manual_seed(3)
    x = torch.randn(2, INPUT, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, HIDDEN, dtype=torch.float64, requires_grad=True)
    if name == "lstm":
        c = torch.randn(2, HIDDEN, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, h, c: ours(x, (h, c)), (x, h, c))
    else:
        assert torch.autograd.gradcheck(lambda x, h: ours(x, h), (x, h))


def test_lstm_step_gates_follow_torch_row_order() -> None:
    x, w_ih, w_hh, b_ih, b_hh = (t.detach() for t in _weights(4, seed=4))
    h = torch.randn(BATCH, HIDDEN, dtype=torch.float64)
    c = torch.randn(BATCH, HIDDEN, dtype=torch.float64)
    h_next, c_next, gates = lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)
    rows = {name: slice(k * HIDDEN, (k + 1) * HIDDEN) for k, name in enumerate("ifgo")}

    def pre(gate: str) -> torch.Tensor:
        r = rows[gate]
        return x @ w_ih[r].T + b_ih[r] + h @ w_hh[r].T + b_hh[r]

    expected = {
        "i": torch.sigmoid(pre("i")),
        "f": torch.sigmoid(pre("f")),
        "g": torch.tanh(pre("g")),
        "o": torch.sigmoid(pre("o")),
    }
    assert_close(gates, expected)
    assert_close(c_next, expected["f"] * c + expected["i"] * expected["g"])
    assert_close(h_next, expected["o"] * torch.tanh(c_next))


def test_gru_step_gates_follow_torch_formula() -> None:
    x, w_ih, w_hh, b_ih, b_hh = (t.detach() for t in _weights(3, seed=5))
    h = torch.randn(BATCH, HIDDEN, dtype=torch.float64)
    h_next, gates = gru_step(x, h, w_ih, w_hh, b_ih, b_hh)
    r_, z_, n_ = (slice(k * HIDDEN, (k + 1) * HIDDEN) for k in range(3))
    r = torch.sigmoid(x @ w_ih[r_].T + b_ih[r_] + h @ w_hh[r_].T + b_hh[r_])
    z = torch.sigmoid(x @ w_ih[z_].T + b_ih[z_] + h @ w_hh[z_].T + b_hh[z_])
    # Reset applied after the hidden matrix product (torch's form), not Cho et al.'s W (r * h).
    n = torch.tanh(x @ w_ih[n_].T + b_ih[n_] + r * (h @ w_hh[n_].T + b_hh[n_]))
    assert_close(gates, {"r": r, "z": z, "n": n})
    assert_close(h_next, (1 - z) * n + z * h)


def test_rnn_step_relu_and_bad_nonlinearity() -> None:
    x, w_ih, w_hh, b_ih, b_hh = (t.detach() for t in _weights(1, seed=6))
    h = torch.randn(BATCH, HIDDEN, dtype=torch.float64)
    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    assert_close(rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu"), pre.clamp(min=0))
    with pytest.raises(ValueError, match=r"nonlinearity must be one of .*got 'sigmoid'"):
        rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="sigmoid")


def test_cell_errors_name_the_values() -> None:
    cell = LSTMCell(INPUT, HIDDEN)
    with pytest.raises(ValueError, match=r"input_size \(4\) must match x's last dimension \(7\)"):
        cell(torch.randn(2, 7))
    with pytest.raises(ValueError, match=r"batched step x of shape \(B, F\), got shape \(4,\)"):
        cell(torch.randn(INPUT))
    bad_c = r"c must have shape \(B, hidden_size\) = \(2, 3\), got \(2, 5\)"
    with pytest.raises(ValueError, match=bad_c):
        cell(torch.randn(2, INPUT), (torch.zeros(2, HIDDEN), torch.zeros(2, 5)))
    with pytest.raises(ValueError, match=r"x's dtype \(torch.float64\) must match"):
        cell(torch.randn(2, INPUT, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"hidden_size must be a positive int, got 0"):
        GRUCell(INPUT, 0)
    with pytest.raises(ValueError, match=r"nonlinearity must be one of .*got 'gelu'"):
        RNNCell(INPUT, HIDDEN, nonlinearity="gelu")


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_init_draws_torchs_tensors_from_the_same_seed(name: str, bias: bool) -> None:
    """The shared reset_recurrent_parameters draws exactly what torch.nn's cell draws, at
    construction and when reset_parameters is called again."""
    ours_cls, torch_cls, kwargs = CELLS[name]
    torch.manual_seed(7)
    theirs = torch_cls(INPUT, HIDDEN, bias=bias, **kwargs)
    torch.manual_seed(7)
    ours = ours_cls(INPUT, HIDDEN, bias=bias, **kwargs)
    assert_close(ours.state_dict(), theirs.state_dict(), rtol=0, atol=0)
    torch.manual_seed(8)
    theirs.reset_parameters()
    torch.manual_seed(8)
    ours.reset_parameters()
    assert_close(ours.state_dict(), theirs.state_dict(), rtol=0, atol=0)


def test_reset_recurrent_parameters_is_torchs_recurrent_init() -> None:
    """Applied to a torch.nn layer, the shared init gives what that layer's own
    reset_parameters gives from the same seed."""
    layer = nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True)
    torch.manual_seed(9)
    layer.reset_parameters()
    expected = {k: v.clone() for k, v in layer.state_dict().items()}
    torch.manual_seed(9)
    reset_recurrent_parameters(layer, HIDDEN)
    assert_close(layer.state_dict(), expected, rtol=0, atol=0)
