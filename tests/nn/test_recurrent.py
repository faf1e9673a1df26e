"""RNN / LSTM / GRU layers of seqlab.nn.recurrent: reference == fused == torch.nn, and the rest.

Tiers: parity (both impls against torch.nn with the same state dict: outputs, final states and
gradients), equivalence (lengths versus unpadded runs, streaming versus whole sequences, trace
versus forward and the cell equations), unit (dropout placement, error messages).
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from seqlab.nn.recurrent import GRU, LSTM, RNN, RecurrentTrace

INPUT, HIDDEN, BATCH, STEPS = 4, 3, 4, 5
# Unsorted, with one full-length and one length-1 sequence: exercises sorting and unsorting.
LENGTHS = torch.tensor([3, 5, 1, 4])
IMPLS = ("fused", "reference")

# name -> (seqlab class, torch class, extra constructor kwargs)
LAYERS = {
    "rnn_tanh": (RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, nn.LSTM, {}),
    "gru": (GRU, nn.GRU, {}),
}
TOLERANCES = {
    torch.float32: {"atol": 1e-5, "rtol": 1e-5},
    torch.float64: {"atol": 1e-12, "rtol": 1e-10},
}


def _build(
    name: str,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    dtype: torch.dtype = torch.float64,
    dropout: float = 0.0,
    bias: bool = True,
    seed: int = 0,
) -> tuple[nn.Module, dict[str, nn.Module]]:
    """A torch.nn layer and, per impl, a seqlab layer loaded from its state dict (strictly)."""
    ours_cls, torch_cls, kwargs = LAYERS[name]
    torch.manual_seed(seed)
    common = {"bidirectional": bidirectional, "dropout": dropout, "bias": bias, "dtype": dtype}
    theirs = torch_cls(INPUT, HIDDEN, num_layers, batch_first=True, **common, **kwargs)
    ours = {}
    for impl in IMPLS:
        layer = ours_cls(INPUT, HIDDEN, num_layers, impl=impl, **common, **kwargs)
        layer.load_state_dict(theirs.state_dict(), strict=True)
        ours[impl] = layer
    return theirs, ours


def _run_torch(layer: nn.Module, x, state=None, lengths=None):
    """torch.nn with lengths the documented way: pack (unsorted) then pad back to T steps."""
    if lengths is None:
        return layer(x, state)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    output, final = layer(packed, state)
    output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.size(1))
    return output, final


def _random_state(name: str, rows: int, dtype: torch.dtype):
    h = torch.randn(rows, BATCH, HIDDEN, dtype=dtype)
    return (h, torch.randn_like(h)) if name == "lstm" else h


def _as_tuple(state) -> tuple[torch.Tensor, ...]:
    return tuple(state) if isinstance(state, tuple | list) else (state,)


def _run_with_grads(layer, run, x, state, seed: int = 7):
    """Run, backpropagate a random projection of output and final state, return values + grads."""
    x = x.clone().requires_grad_()
    state = None if state is None else tuple(s.clone().requires_grad_() for s in _as_tuple(state))
    call_state = None if state is None else (state if len(state) == 2 else state[0])
    output, final = run(layer, x, call_state)
    final = _as_tuple(final)
    generator = torch.Generator().manual_seed(seed)
    # Random weights so every output element and every state element gets its own gradient.
    loss = (output * torch.randn(output.shape, generator=generator, dtype=x.dtype)).sum()
    for part in final:
        loss = loss + (part * torch.randn(part.shape, generator=generator, dtype=x.dtype)).sum()
    layer.zero_grad()
    loss.backward()
    grads = {"x": x.grad}
    if state is not None:
        grads |= {f"state{i}": s.grad for i, s in enumerate(state)}
    grads |= {k: p.grad.clone() for k, p in layer.named_parameters()}
    return output.detach(), tuple(f.detach() for f in final), grads


def _check_parity(name, num_layers, bidirectional, with_lengths, with_state, dtype) -> None:
    """Outputs, final states and gradients (input, initial state, every parameter) all agree.

    Modules are in training mode with dropout 0, which must equal eval mode.
    """
    theirs, ours = _build(name, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype)
    torch.manual_seed(1)
    x = torch.randn(BATCH, STEPS, INPUT, dtype=dtype)
    rows = num_layers * (2 if bidirectional else 1)
    state = _random_state(name, rows, dtype) if with_state else None
    lengths = LENGTHS if with_lengths else None

    expected = _run_with_grads(theirs, lambda m, x, s: _run_torch(m, x, s, lengths), x, state)
    results = {
        impl: _run_with_grads(layer, lambda m, x, s: m(x, s, lengths=lengths), x, state)
        for impl, layer in ours.items()
    }
    assert_close(results["fused"], expected, **TOLERANCES[dtype])
    assert_close(results["reference"], expected, **TOLERANCES[dtype])
    assert_close(results["reference"], results["fused"], **TOLERANCES[dtype])


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("name", list(LAYERS))
def test_reference_and_fused_equal_torch_float64(
    name: str, num_layers: int, bidirectional: bool, with_lengths: bool, with_state: bool
) -> None:
    _check_parity(name, num_layers, bidirectional, with_lengths, with_state, torch.float64)


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_reference_and_fused_equal_torch_float32(name: str, with_lengths: bool) -> None:
    # The hardest configuration only: torch's float32 CPU kernels (oneDNN) cost ~0.3 s a call
    # even at this size, so the full grid runs in float64 above.
    _check_parity(name, 2, True, with_lengths, True, torch.float32)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_without_bias_equal_torch(name: str, bidirectional: bool) -> None:
    theirs, ours = _build(name, num_layers=2, bidirectional=bidirectional, bias=False)
    assert not any("bias" in key for key in ours["fused"].state_dict())
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    expected = _run_torch(theirs, x, lengths=LENGTHS)
    for layer in ours.values():
        assert_close(layer(x, lengths=LENGTHS), expected, **TOLERANCES[torch.float64])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", list(LAYERS))
def test_parameter_names_and_shapes_equal_torch(name: str, bias: bool) -> None:
    theirs, ours = _build(name, num_layers=2, bidirectional=True, bias=bias)
    theirs_shapes = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours_shapes = [(k, tuple(v.shape)) for k, v in ours["fused"].state_dict().items()]
    assert ours_shapes == theirs_shapes  # same names, shapes and order
    assert "weight_hh_l1_reverse" in dict(ours_shapes)
    # Loading was strict in _build; the values arrived, and our dict loads back into torch.
    assert_close(ours["reference"].state_dict(), theirs.state_dict())
    torch_again = LAYERS[name][1](
        INPUT,
        HIDDEN,
        2,
        batch_first=True,
        bidirectional=True,
        bias=bias,
        dtype=torch.float64,
        **LAYERS[name][2],
    )
    torch_again.load_state_dict(ours["fused"].state_dict(), strict=True)


@pytest.mark.parametrize("name", list(LAYERS))
def test_init_is_torch_uniform(name: str) -> None:
    ours_cls, _, kwargs = LAYERS[name]
    layer = ours_cls(INPUT, 16, 2, bidirectional=True, **kwargs)
    bound = 1.0 / math.sqrt(16)
    for param_name, param in layer.named_parameters():
        assert param.abs().max() <= bound, param_name
        assert param.abs().max() > 0.8 * bound, param_name  # spread over the interval


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_lengths_zero_padding_and_match_unpadded_runs(name: str, impl: str) -> None:
    _, ours = _build(name, num_layers=2, bidirectional=True)
    layer = ours[impl]
    torch.manual_seed(3)
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    state = _random_state(name, 4, torch.float64)
    # Garbage in the padding must not leak into outputs or states.
    x_padded = x.clone()
    for b, length in enumerate(LENGTHS.tolist()):
        x_padded[b, length:] = 1e3
    output, final = layer(x_padded, state, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS.tolist()):
        assert torch.equal(output[b, length:], torch.zeros_like(output[b, length:]))
        alone_state = tuple(s[:, b : b + 1] for s in _as_tuple(state))
        alone_state = alone_state if name == "lstm" else alone_state[0]
        alone_output, alone_final = layer(x[b : b + 1, :length], alone_state)
        assert_close(output[b : b + 1, :length], alone_output, **TOLERANCES[torch.float64])
        for got, want in zip(_as_tuple(final), _as_tuple(alone_final), strict=True):
            assert_close(got[:, b : b + 1], want, **TOLERANCES[torch.float64])


@pytest.mark.parametrize("name", list(LAYERS))
def test_dropout_in_eval_mode_is_off_and_equals_torch(name: str) -> None:
    theirs, ours = _build(name, num_layers=2, bidirectional=True, dropout=0.5)
    for module in (theirs, *ours.values()):
        module.eval()
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    expected = _run_torch(theirs, x, lengths=LENGTHS)
    for layer in ours.values():
        assert_close(layer(x, lengths=LENGTHS), expected, **TOLERANCES[torch.float64])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_dropout_in_training_sits_between_layers_only(name: str, impl: str) -> None:
    _, ours = _build(name, num_layers=2, bidirectional=True, dropout=0.5)
    layer = ours[impl]
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    layer.eval()
    eval_output, eval_state = layer(x)
    layer.train()
    torch.manual_seed(11)
    train_output, train_state = layer(x)
    torch.manual_seed(11)
    again_output, _ = layer(x)
    assert torch.equal(train_output, again_output)  # the mask comes from torch's generator
    for got, want in zip(_as_tuple(train_state), _as_tuple(eval_state), strict=True):
        # Layer 0 (rows 0 and 1) runs before any dropout; layer 1 reads a dropped-out input.
        assert_close(got[:2], want[:2], **TOLERANCES[torch.float64])
        assert not torch.allclose(got[2:], want[2:])
    assert not torch.allclose(train_output, eval_output)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["lstm", "rnn_tanh"])
def test_dropout_drops_the_next_layers_input_not_the_last_output(name: str, impl: str) -> None:
    """With p ~ 1 layer 1 sees zeros: the output is a lone layer 1 run on zeros (not zero)."""
    _, ours = _build(name, num_layers=2, bidirectional=True, dropout=1 - 1e-9)
    layer = ours[impl].train()
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    torch.manual_seed(12)
    output, final = layer(x)

    ours_cls, _, kwargs = LAYERS[name]
    lone = ours_cls(2 * HIDDEN, HIDDEN, 1, bidirectional=True, dtype=torch.float64, **kwargs)
    lone.load_state_dict(
        {k.replace("_l1", "_l0"): v for k, v in layer.state_dict().items() if "_l1" in k}
    )
    lone_output, lone_final = lone(torch.zeros(BATCH, STEPS, 2 * HIDDEN, dtype=torch.float64))
    assert_close(output, lone_output, **TOLERANCES[torch.float64])
    assert output.abs().max() > 0  # nothing dropped after the last layer
    for got, want in zip(_as_tuple(final), _as_tuple(lone_final), strict=True):
        assert_close(got[2:], want, **TOLERANCES[torch.float64])


@pytest.mark.parametrize("impl", IMPLS)
def test_dropout_with_one_layer_warns_and_does_nothing(impl: str) -> None:
    with pytest.warns(UserWarning, match=r"dropout \(0.5\) is applied between layers only"):
        layer = GRU(INPUT, HIDDEN, dropout=0.5, impl=impl)
    x = torch.randn(BATCH, STEPS, INPUT)
    train_output, _ = layer.train()(x)
    eval_output, _ = layer.eval()(x)
    assert_close(train_output, eval_output, rtol=0, atol=0)


def _chunks(layer, x, state, sizes):
    outputs = []
    for chunk in x.split(sizes, dim=1):
        output, state = layer(chunk, state)  # continues from the carried state
        outputs.append(output)
    return torch.cat(outputs, dim=1), state


def _steps(layer, x, state):
    outputs = []
    for t in range(x.size(1)):
        output, state = layer.step(x[:, t], state)  # (B, H)
        outputs.append(output)
    return torch.stack(outputs, dim=1), state


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_streaming_equals_whole_sequence(name: str, impl: str, with_state: bool) -> None:
    _, ours = _build(name, num_layers=2)
    layer = ours[impl]
    torch.manual_seed(4)
    x = torch.randn(BATCH, 6, INPUT, dtype=torch.float64)
    state = _random_state(name, 2, torch.float64) if with_state else None
    whole = layer(x, state)
    assert_close(_steps(layer, x, state), whole, **TOLERANCES[torch.float64])
    assert_close(_chunks(layer, x, state, [2, 3, 1]), whole, **TOLERANCES[torch.float64])
    # Streaming on one impl continues a state produced by the other: one set of weights.
    other = ours["reference" if impl == "fused" else "fused"]
    head_output, head_state = layer(x[:, :4], state)
    tail_output, tail_state = other(x[:, 4:], head_state)
    assert_close((torch.cat([head_output, tail_output], 1), tail_state), whole)


def test_step_refuses_bidirectional_and_bad_shapes() -> None:
    layer = LSTM(INPUT, HIDDEN, bidirectional=True)
    with pytest.raises(ValueError, match=r"reverse direction .* needs the whole sequence"):
        layer.step(torch.randn(BATCH, INPUT))
    with pytest.raises(ValueError, match=r"x_t of shape \(B, F\), got shape \(4, 1, 4\)"):
        LSTM(INPUT, HIDDEN).step(torch.randn(BATCH, 1, INPUT))


@pytest.mark.parametrize("name", list(LAYERS))
def test_initial_state_layout(name: str) -> None:
    ours_cls, _, kwargs = LAYERS[name]
    layer = ours_cls(INPUT, HIDDEN, 2, bidirectional=True, dtype=torch.float64, **kwargs)
    state = layer.initial_state(BATCH)
    for part in _as_tuple(state):
        assert torch.equal(part, torch.zeros(4, BATCH, HIDDEN, dtype=torch.float64))
    assert isinstance(state, tuple) == (name == "lstm")
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    assert_close(layer(x, state), layer(x))  # None means the zero state
    with pytest.raises(ValueError, match=r"batch_size must be a positive int, got 0"):
        layer.initial_state(0)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_trace_matches_forward(name: str, impl: str) -> None:
    _, ours = _build(name, num_layers=2, bidirectional=True)
    layer = ours[impl]  # trace always runs the reference path, whatever impl is
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    state = _random_state(name, 4, torch.float64)
    trace = layer.trace(x, state, lengths=LENGTHS)
    assert isinstance(trace, RecurrentTrace)
    output, final = layer(x, state, lengths=LENGTHS)
    assert_close(trace.output, output, **TOLERANCES[torch.float64])
    assert_close(trace.state, final, **TOLERANCES[torch.float64])
    assert torch.equal(trace.lengths, LENGTHS)
    # The top layer's hidden states, both directions side by side, are the output.
    assert_close(torch.cat(trace.hidden_states[-1], dim=-1), trace.output)

    h_n = _as_tuple(trace.state)[0]
    c_n = trace.state[1] if name == "lstm" else None
    gate_names = {"lstm": {"i", "f", "g", "o"}, "gru": {"r", "z", "n"}}.get(name, set())
    for layer_index in range(2):
        for direction in range(2):
            row = 2 * layer_index + direction
            hidden = trace.hidden_states[layer_index][direction]  # (B, T, H)
            gates = trace.gates[layer_index][direction]
            assert set(gates) == gate_names
            for b, length in enumerate(LENGTHS.tolist()):
                # The final state is the state at the true last step of each direction.
                last = length - 1 if direction == 0 else 0
                assert_close(hidden[b, last], h_n[row, b])
                if c_n is not None:
                    assert_close(trace.cell_states[layer_index][direction][b, last], c_n[row, b])
                # Past the length everything traced is zero, like the output.
                assert torch.equal(hidden[b, length:], torch.zeros_like(hidden[b, length:]))
                for gate in gates.values():
                    assert torch.equal(gate[b, length:], torch.zeros_like(gate[b, length:]))
    if name != "lstm":
        assert trace.cell_states is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        trace.output = output


def _previous(states: torch.Tensor, initial: torch.Tensor, direction: int) -> torch.Tensor:
    """The state each step started from: shift by one in the direction of reading."""
    if direction == 0:
        return torch.cat([initial[:, None], states[:, :-1]], dim=1)  # (B, T, H)
    return torch.cat([states[:, 1:], initial[:, None]], dim=1)  # (B, T, H)


@pytest.mark.parametrize("direction", [0, 1], ids=["forward", "reverse"])
@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh"])
def test_trace_gates_reproduce_hidden_states(name: str, direction: int) -> None:
    _, ours = _build(name, bidirectional=True)
    layer = ours["fused"]
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    state = _random_state(name, 2, torch.float64)
    trace = layer.trace(x, state)
    h = trace.hidden_states[0][direction]  # (B, T, H)
    gates = trace.gates[0][direction]
    h_prev = _previous(h, _as_tuple(state)[0][direction], direction)  # (B, T, H)
    suffix = "_l0_reverse" if direction else "_l0"
    w_ih, w_hh = getattr(layer, "weight_ih" + suffix), getattr(layer, "weight_hh" + suffix)
    b = getattr(layer, "bias_ih" + suffix) + getattr(layer, "bias_hh" + suffix)
    with torch.no_grad():
        if name == "lstm":
            c = trace.cell_states[0][direction]  # (B, T, H)
            c_prev = _previous(c, state[1][direction], direction)
            assert_close(c, gates["f"] * c_prev + gates["i"] * gates["g"])
            assert_close(h, gates["o"] * torch.tanh(c))
            # The forget gate read back from torch's second row block: f = σ(W_f [h, x] + b_f).
            rows = slice(HIDDEN, 2 * HIDDEN)
            pre_f = x @ w_ih[rows].T + h_prev @ w_hh[rows].T + b[rows]
            assert_close(gates["f"], torch.sigmoid(pre_f))
        elif name == "gru":
            assert_close(h, (1 - gates["z"]) * gates["n"] + gates["z"] * h_prev)
            rows = slice(HIDDEN, 2 * HIDDEN)
            pre_z = x @ w_ih[rows].T + h_prev @ w_hh[rows].T + b[rows]
            assert_close(gates["z"], torch.sigmoid(pre_z))
        else:
            assert gates == {}
            assert_close(h, torch.tanh(x @ w_ih.T + h_prev @ w_hh.T + b))


def test_reference_path_has_no_extra_state_on_the_module() -> None:
    """Switching impl on one layer object flips the path and keeps the numbers."""
    layer = GRU(INPUT, HIDDEN, 2, dtype=torch.float64)
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    fused = layer(x, lengths=LENGTHS)
    layer.impl = "reference"
    assert_close(layer(x, lengths=[3, 5, 1, 4]), fused, **TOLERANCES[torch.float64])
    assert "impl='reference'" in repr(layer)


def test_constructor_errors_name_the_values() -> None:
    with pytest.raises(ValueError, match=r"batch_first must be True, got False: .*batch-first"):
        LSTM(INPUT, HIDDEN, batch_first=False)
    with pytest.raises(ValueError, match=r"impl must be 'reference' or 'fused', got 'cudnn'"):
        GRU(INPUT, HIDDEN, impl="cudnn")
    layer = GRU(INPUT, HIDDEN)
    with pytest.raises(ValueError, match=r"impl must be 'reference' or 'fused', got 'fast'"):
        layer.impl = "fast"
    assert layer.impl == "fused"
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.0"):
        LSTM(INPUT, HIDDEN, 2, dropout=1.0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got -0.1"):
        LSTM(INPUT, HIDDEN, 2, dropout=-0.1)
    with pytest.raises(ValueError, match=r"hidden_size must be a positive int, got 0"):
        RNN(INPUT, 0)
    with pytest.raises(ValueError, match=r"num_layers must be a positive int, got 0"):
        RNN(INPUT, HIDDEN, 0)
    with pytest.raises(ValueError, match=r"input_size must be a positive int, got 2.5"):
        RNN(2.5, HIDDEN)
    with pytest.raises(ValueError, match=r"nonlinearity must be one of .*got 'sigmoid'"):
        RNN(INPUT, HIDDEN, 1, "sigmoid")
    # torch.nn.RNN's positional order: nonlinearity is the fourth argument.
    assert RNN(INPUT, HIDDEN, 1, "relu").mode == "RNN_RELU"


def test_forward_errors_name_the_values() -> None:
    layer = LSTM(INPUT, HIDDEN, 2)
    x = torch.randn(BATCH, STEPS, INPUT)
    with pytest.raises(ValueError, match=r"input_size \(4\) must match x's last dimension \(7\)"):
        layer(torch.randn(BATCH, STEPS, 7))
    with pytest.raises(ValueError, match=r"batch-first x of shape \(B, T, F\), got shape \(5, 4\)"):
        layer(torch.randn(STEPS, INPUT))
    with pytest.raises(ValueError, match=r"x's dtype \(torch.float64\) must match .*torch.float32"):
        layer(x.double())
    h = torch.zeros(1, BATCH, HIDDEN)
    with pytest.raises(ValueError, match=r"h must have .* = \(2, 4, 3\), got \(1, 4, 3\)"):
        layer(x, (h, h))
    with pytest.raises(ValueError, match=r"c's dtype \(torch.float64\) must match x's dtype"):
        layer(x, (torch.zeros(2, BATCH, HIDDEN), torch.zeros(2, BATCH, HIDDEN).double()))
    with pytest.raises(ValueError, match=r"LSTM's state must be a pair \(h, c\)"):
        layer(x, torch.zeros(2, BATCH, HIDDEN))
    with pytest.raises(ValueError, match=r"every length must be in \[1, T\] = \[1, 5\], got min 0"):
        layer(x, lengths=torch.tensor([0, 5, 2, 2]))
    with pytest.raises(ValueError, match=r"got min 2 and max 6 in lengths \[2, 6, 2, 2\]"):
        layer(x, lengths=[2, 6, 2, 2])
    with pytest.raises(ValueError, match=r"lengths must have shape \(B,\) = \(4,\), got \(3,\)"):
        layer(x, lengths=[2, 2, 2])
    with pytest.raises(ValueError, match=r"lengths must hold integers, got dtype torch.float32"):
        layer(x, lengths=torch.tensor([2.0, 2.0, 2.0, 2.0]))


@pytest.mark.parametrize("impl", IMPLS)
def test_module_conversion_and_functional_call_use_current_parameters(impl: str) -> None:
    """.double() re-reads the parameters, and functional_call's swapped weights are used."""
    theirs = nn.LSTM(INPUT, HIDDEN, 2, batch_first=True, bidirectional=True)
    layer = LSTM(INPUT, HIDDEN, 2, bidirectional=True, impl=impl)
    layer.load_state_dict(theirs.state_dict())
    x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64)
    assert_close(layer.double()(x), theirs.double()(x), **TOLERANCES[torch.float64])
    swapped = {k: torch.zeros_like(v) for k, v in layer.named_parameters()}
    output, (h_n, c_n) = torch.func.functional_call(layer, swapped, (x,))
    # All-zero weights: every gate is σ(0) = 0.5 and g = tanh(0) = 0, so c and h stay zero.
    assert torch.equal(output, torch.zeros(BATCH, STEPS, 2 * HIDDEN, dtype=torch.float64))
    assert torch.equal(c_n, torch.zeros_like(c_n))


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize(("bidirectional", "bias"), [(False, True), (True, True), (True, False)])
def test_init_draws_torchs_tensors_from_the_same_seed(
    name: str, bidirectional: bool, bias: bool
) -> None:
    """Same names, order and values as torch.nn's layer from the same seed, at construction and
    when reset_parameters is called again (the init shared with the cells)."""
    ours_cls, torch_cls, kwargs = LAYERS[name]
    common = {"bidirectional": bidirectional, "bias": bias, **kwargs}
    torch.manual_seed(7)
    theirs = torch_cls(INPUT, HIDDEN, 2, batch_first=True, **common)
    torch.manual_seed(7)
    ours = ours_cls(INPUT, HIDDEN, 2, **common)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_close(ours.state_dict(), theirs.state_dict(), rtol=0, atol=0)
    torch.manual_seed(8)
    theirs.reset_parameters()
    torch.manual_seed(8)
    ours.reset_parameters()
    assert_close(ours.state_dict(), theirs.state_dict(), rtol=0, atol=0)


@pytest.mark.parametrize("layer_class", [RNN, LSTM, GRU])
def test_one_layer_dropout_warning_points_at_the_callers_line(layer_class) -> None:
    with pytest.warns(UserWarning, match="applied between layers only") as record:
        layer_class(INPUT, HIDDEN, dropout=0.5)
    assert record[0].filename == __file__
