"""Gate-bias initialisation (seqlab.models.init) and the memory network (seqlab.models.memory).

Chrono initialisation is checked three ways: the bias values against their interval and the
input = -forget rule, the rows against an untouched copy built from the same seed, and the gates'
meaning by running the initialised weights through torch.nn.LSTM / torch.nn.GRU (so a bias put in
the wrong rows shows up as the wrong gate value, not only as the wrong slice).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import seqlab.nn as snn
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.models.init import initialise_gate_biases, initialise_recurrent_weights
from seqlab.models.memory import MemoryModel

HIDDEN = 64


def _layer(family: str, *, seed: int = 0, num_layers: int = 2, bidirectional: bool = True):
    torch.manual_seed(seed)
    layer_class = {"lstm": snn.LSTM, "gru": snn.GRU, "rnn": snn.RNN}[family]
    return layer_class(3, HIDDEN, num_layers=num_layers, bidirectional=bidirectional)


def _initialised(
    family: str,
    init: str,
    *,
    expected_length: int = 100,
    chrono_max_steps=None,
    generator_seed: int = 5,
    **layer_options,
):
    """(initialised layer, an untouched copy with the same torch initialisation)."""
    layer = _layer(family, **layer_options)
    standard = copy.deepcopy(layer)
    config = RecurrentConfig(
        family=family, hidden_size=HIDDEN, init=init, chrono_max_steps=chrono_max_steps
    )
    generator = torch.Generator().manual_seed(generator_seed)
    initialise_gate_biases(layer, config, expected_length=expected_length, generator=generator)
    return layer, standard


def _rows(family: str, gate: str) -> slice:
    position = {"lstm": "ifgo", "gru": "rzn"}[family].index(gate)
    return slice(position * HIDDEN, (position + 1) * HIDDEN)


def _bias_names(layer: nn.Module) -> list[str]:
    return [name for name, _ in layer.named_parameters() if name.startswith("bias_ih")]


# ---- chrono, LSTM --------------------------------------------------------------------------


def test_chrono_lstm_forget_in_log_interval_input_is_minus_forget() -> None:
    length = 100
    layer, standard = _initialised("lstm", "chrono", expected_length=length)
    params, reference = dict(layer.named_parameters()), dict(standard.named_parameters())
    names = _bias_names(layer)
    assert names == ["bias_ih_l0", "bias_ih_l0_reverse", "bias_ih_l1", "bias_ih_l1_reverse"]
    # The reference draw: b_f = log(U(1, T - 1)) from the same generator, one H-vector per
    # layer and direction in parameter order.
    generator = torch.Generator().manual_seed(5)
    for name in names:
        hh = name.replace("bias_ih", "bias_hh")
        forget = params[name][_rows("lstm", "f")]
        assert forget.min() >= 0.0 and forget.max() <= math.log(length - 1) + 1e-6
        expected = torch.log(1.0 + torch.rand(HIDDEN, generator=generator) * (length - 2))
        assert_close(forget, expected)
        assert_close(params[name][_rows("lstm", "i")], -forget, rtol=0, atol=0)
        # bias_hh's forget and input rows are zero, so the gate sees exactly the chosen bias.
        assert torch.equal(params[hh][_rows("lstm", "f")], torch.zeros(HIDDEN))
        assert torch.equal(params[hh][_rows("lstm", "i")], torch.zeros(HIDDEN))
        # Cell and output gates keep torch's initialisation.
        for gate in "go":
            assert torch.equal(
                params[name][_rows("lstm", gate)], reference[name][_rows("lstm", gate)]
            )
            assert torch.equal(params[hh][_rows("lstm", gate)], reference[hh][_rows("lstm", gate)])
    # Every weight matrix is untouched.
    for name, value in reference.items():
        if name.startswith("weight"):
            assert torch.equal(params[name], value), name


def test_chrono_lstm_spreads_over_the_whole_interval() -> None:
    # 64 units per direction x 4: the draw reaches near both ends of [0, log(T - 1)], and is
    # log-uniform: characteristic times exp(b) are uniform on [1, T - 1], mean T / 2.
    length = 200
    layer, _ = _initialised("lstm", "chrono", expected_length=length)
    params = dict(layer.named_parameters())
    forget = torch.cat([params[name][_rows("lstm", "f")] for name in _bias_names(layer)]).detach()
    assert float(forget.min()) < 0.1 * math.log(length - 1)
    assert float(forget.max()) > 0.95 * math.log(length - 1)
    assert float(forget.exp().mean()) == pytest.approx(length / 2, rel=0.15)


def test_chrono_lstm_gates_mean_what_the_paper_says_in_torch() -> None:
    # With zero weights and zero input, one step of torch.nn.LSTM from (h0 = 0, c0) gives
    # c1 = f * c0 + i * tanh(b_g). Chrono promises f = sigma(log tau) = tau / (1 + tau) and
    # i = sigma(-log tau) = 1 - f.
    length = 50
    layer, _ = _initialised(
        "lstm", "chrono", expected_length=length, num_layers=1, bidirectional=False
    )
    reference = nn.LSTM(3, HIDDEN, batch_first=True)
    reference.load_state_dict(layer.state_dict())
    with torch.no_grad():
        reference.weight_ih_l0.zero_()
        reference.weight_hh_l0.zero_()
        reference.bias_hh_l0[_rows("lstm", "g")] = 0.0
        reference.bias_ih_l0[_rows("lstm", "g")] = 0.0  # tanh(b_g) = 0: c1 = f * c0
        x, h0 = torch.zeros(1, 1, 3), torch.zeros(1, 1, HIDDEN)
        _, (_, forget) = reference(x, (h0, torch.ones(1, 1, HIDDEN)))
        reference.bias_ih_l0[_rows("lstm", "g")] = 30.0  # tanh(b_g) = 1: c1 = i from c0 = 0
        _, (_, input_gate) = reference(x, (h0, torch.zeros(1, 1, HIDDEN)))
    tau = layer.bias_ih_l0[_rows("lstm", "f")].detach().exp()
    assert_close(forget.flatten(), tau / (1 + tau))
    assert_close(input_gate.flatten(), 1 / (1 + tau))
    assert forget.min() >= 0.5 - 1e-6 and forget.max() <= (length - 1) / length + 1e-6


# ---- chrono, GRU ---------------------------------------------------------------------------


def test_chrono_gru_sets_only_the_update_gate() -> None:
    length = 30
    layer, standard = _initialised("gru", "chrono", expected_length=length)
    params, reference = dict(layer.named_parameters()), dict(standard.named_parameters())
    generator = torch.Generator().manual_seed(5)
    for name in _bias_names(layer):
        hh = name.replace("bias_ih", "bias_hh")
        update = params[name][_rows("gru", "z")]
        assert update.min() >= 0.0 and update.max() <= math.log(length - 1) + 1e-6
        expected = torch.log(1.0 + torch.rand(HIDDEN, generator=generator) * (length - 2))
        assert_close(update, expected)
        assert torch.equal(params[hh][_rows("gru", "z")], torch.zeros(HIDDEN))
        for gate in "rn":  # reset and new gates untouched, no "input = -forget" for a GRU
            assert torch.equal(
                params[name][_rows("gru", gate)], reference[name][_rows("gru", gate)]
            )
            assert torch.equal(params[hh][_rows("gru", gate)], reference[hh][_rows("gru", gate)])
    for name, value in reference.items():
        if name.startswith("weight"):
            assert torch.equal(params[name], value), name


def test_chrono_gru_update_gate_keeps_the_state_in_torch() -> None:
    # h1 = (1 - z) * n + z * h0; with zero weights and the new gate's biases zeroed, n = 0 and
    # h1 = z * h0 = sigma(b_z) from h0 = 1.
    layer, _ = _initialised("gru", "chrono", expected_length=40, num_layers=1, bidirectional=False)
    reference = nn.GRU(3, HIDDEN, batch_first=True)
    reference.load_state_dict(layer.state_dict())
    with torch.no_grad():
        reference.weight_ih_l0.zero_()
        reference.weight_hh_l0.zero_()
        reference.bias_ih_l0[_rows("gru", "n")] = 0.0
        reference.bias_hh_l0[_rows("gru", "n")] = 0.0
        _, h1 = reference(torch.zeros(1, 1, 3), torch.ones(1, 1, HIDDEN))
    expected = torch.sigmoid(layer.bias_ih_l0[_rows("gru", "z")].detach())
    assert_close(h1.flatten(), expected)
    assert h1.min() >= 0.5 - 1e-6


# ---- forget-bias-1, standard, rnn ----------------------------------------------------------


@pytest.mark.parametrize(("family", "gate", "others"), [("lstm", "f", "igo"), ("gru", "z", "rn")])
def test_forget_bias_one(family: str, gate: str, others: str) -> None:
    layer, standard = _initialised(family, "forget-bias-1")
    params, reference = dict(layer.named_parameters()), dict(standard.named_parameters())
    for name in _bias_names(layer):
        hh = name.replace("bias_ih", "bias_hh")
        total = params[name][_rows(family, gate)] + params[hh][_rows(family, gate)]
        assert torch.equal(total, torch.ones(HIDDEN))
        for other in others:  # the input gate too: forget-bias-1 has no input = -forget rule
            assert torch.equal(
                params[name][_rows(family, other)], reference[name][_rows(family, other)]
            )
            assert torch.equal(
                params[hh][_rows(family, other)], reference[hh][_rows(family, other)]
            )


@pytest.mark.parametrize(
    ("family", "init"),
    [("lstm", "standard"), ("gru", "standard"), ("rnn", "chrono"), ("rnn", "forget-bias-1")],
)
def test_standard_and_rnn_leave_torch_initialisation(family: str, init: str) -> None:
    layer, standard = _initialised(family, init)
    reference = dict(standard.named_parameters())
    for name, value in layer.named_parameters():
        assert torch.equal(value, reference[name]), name
    # ... and the untouched values are torch's U(-1/sqrt(H), 1/sqrt(H)), not zeros.
    biases = torch.cat([value.flatten() for name, value in reference.items() if "bias" in name])
    assert biases.abs().max() <= 1 / math.sqrt(HIDDEN)
    assert biases.abs().max() > 0.9 / math.sqrt(HIDDEN)


def test_chrono_max_steps_none_uses_the_expected_length() -> None:
    implicit, _ = _initialised("lstm", "chrono", expected_length=37)
    explicit, _ = _initialised("lstm", "chrono", expected_length=5000, chrono_max_steps=37)
    for name, value in implicit.named_parameters():
        assert torch.equal(value, dict(explicit.named_parameters())[name]), name
    # The configured T_max wins over the expected length: all biases within log(36).
    forget = explicit.bias_ih_l0[_rows("lstm", "f")]
    assert forget.max() <= math.log(36) + 1e-6
    longer, _ = _initialised("lstm", "chrono", expected_length=5000)
    assert longer.bias_ih_l0[_rows("lstm", "f")].max() > math.log(36)


def test_chrono_needs_at_least_three_steps() -> None:
    with pytest.raises(ValueError, match=r"chrono initialisation needs T_max >= 3, got 2"):
        _initialised("lstm", "chrono", expected_length=2)
    with pytest.raises(ValueError, match=r"model.chrono_max_steps \(2\) must be at least 3"):
        RecurrentConfig(family="lstm", chrono_max_steps=2)
    # Other initialisations do not care about T_max.
    _initialised("lstm", "forget-bias-1", expected_length=1)


def test_config_messages_name_the_values() -> None:
    with pytest.raises(
        ValueError, match=r"model.d_model \(100\) must be divisible by model.num_heads \(8\)"
    ):
        TransformerConfig(d_model=100, num_heads=8)
    with pytest.raises(ValueError, match=r"model.family \('cnn'\) must be one of rnn, lstm, gru"):
        RecurrentConfig(family="cnn")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"model.hidden_size \(0\)"):
        RecurrentConfig(hidden_size=0)


# ---- recurrent weights ---------------------------------------------------------------------


@pytest.mark.parametrize(("family", "gates"), [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_orthogonal_recurrent_weights_per_gate_block(family: str, gates: int) -> None:
    layer = _layer(family)
    standard = copy.deepcopy(layer)
    config = RecurrentConfig(family=family, hidden_size=HIDDEN, recurrent_init="orthogonal")
    initialise_recurrent_weights(layer, config, generator=torch.Generator().manual_seed(0))
    reference = dict(standard.named_parameters())
    for name, value in layer.named_parameters():
        if not name.startswith("weight_hh"):
            assert torch.equal(value, reference[name]), name  # inputs weights and biases untouched
            continue
        assert value.shape == (gates * HIDDEN, HIDDEN)
        for gate in range(gates):
            block = value[gate * HIDDEN : (gate + 1) * HIDDEN].double()  # (H, H)
            assert_close(block @ block.T, torch.eye(HIDDEN, dtype=torch.float64), atol=1e-5, rtol=0)
        # ... unlike torch's uniform init, whose singular values spread from near 0 to about
        # 2 / sqrt(3) (quarter-circle law); the orthogonal blocks' are all 1.
        singular = torch.linalg.svdvals(reference[name][:HIDDEN].detach().double())
        assert singular.min() < 0.2 and singular.max() > 1.0
    uniform = _layer(family)
    initialise_recurrent_weights(
        uniform, RecurrentConfig(family=family, hidden_size=HIDDEN, recurrent_init="uniform")
    )
    for name, value in uniform.named_parameters():
        assert torch.equal(value, reference[name]), name


# ---- MemoryModel ---------------------------------------------------------------------------

FAMILIES = ("rnn", "lstm", "gru", "transformer")
KINDS = {  # kind: (vocab_size, output_size, answer_steps)
    "recall": (6, 6, None),
    "adding": (0, 1, None),
    "copy": (8, 6, 3),
}


def _config(family: str):
    if family == "transformer":
        return TransformerConfig(
            d_model=16,
            num_heads=2,
            num_layers=2,
            dim_feedforward=32,
            dropout=0.0,
            norm_first=True,
            max_len=64,
        )
    return RecurrentConfig(family=family, hidden_size=16)


def _model(family: str, kind: str, *, length: int = 10) -> MemoryModel:
    vocab, outputs, answer = KINDS[kind]
    torch.manual_seed(0)
    return MemoryModel(
        config=_config(family),
        vocab_size=vocab,
        input_features=2,
        output_size=outputs,
        answer_steps=answer,
        expected_length=length,
        generator=torch.Generator().manual_seed(1),
    ).eval()


def _inputs(kind: str, *, batch: int = 4, length: int = 10) -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    if kind == "adding":
        return torch.rand(batch, length, 2, generator=generator)
    return torch.randint(KINDS[kind][0], (batch, length), generator=generator)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_is_forward_embedded_of_embed(family: str, kind: str) -> None:
    model = _model(family, kind)
    inputs = _inputs(kind)
    assert_close(model(inputs), model.forward_embedded(model.embed(inputs)), rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_lstm_memory_model_matches_torch_lstm_and_a_hand_head(kind: str) -> None:
    # Reference: torch.nn.Embedding / Linear -> torch.nn.LSTM -> head on the last A steps.
    model = _model("lstm", kind)
    inputs = _inputs(kind)
    reference = nn.LSTM(16, 16, batch_first=True)
    reference.load_state_dict(model.backbone.rnn.state_dict())
    with torch.no_grad():
        embedded = model.input_encoder(inputs)  # (B, T, D)
        hidden, _ = reference(embedded)  # (B, T, D)
        answer = KINDS[kind][2] or 1  # recall and adding answer at the last step
        logits = hidden[:, -answer:] @ model.head.weight.T + model.head.bias  # (B, A, C)
        if kind == "adding":
            expected = logits[:, -1, 0]
        elif kind == "recall":
            expected = logits[:, -1]
        else:
            expected = logits
        assert_close(model(inputs), expected)
    assert model(inputs).shape == expected.shape


@pytest.mark.parametrize("family", FAMILIES)
def test_copy_answer_depends_on_the_string_and_never_on_the_future(family: str) -> None:
    # Gradient of each answer step w.r.t. the embedded inputs: non-zero at position 0 (the
    # string's first symbol) at initialisation, and exactly zero at every later position
    # (every family reads left to right).
    length, answer = 10, KINDS["copy"][2]
    model = _model(family, "copy", length=length)
    x = model.embed(_inputs("copy", length=length)).detach().requires_grad_(True)  # (B, T, D)
    logits = model.forward_embedded(x)  # (B, A, C)
    for step in range(answer):
        (gradient,) = torch.autograd.grad(logits[:, step].sum(), x, retain_graph=True)
        position = length - answer + step  # where this answer is read
        per_position = gradient.abs().sum(dim=-1)  # (B, T)
        assert torch.all(per_position[:, 0] > 0), (family, step)
        assert torch.equal(
            per_position[:, position + 1 :], torch.zeros_like(per_position[:, position + 1 :])
        )


@pytest.mark.parametrize("family", FAMILIES)
def test_recall_answer_depends_on_the_first_symbol(family: str) -> None:
    model = _model(family, "recall")
    x = model.embed(_inputs("recall")).detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model.forward_embedded(x).sum(), x)
    assert torch.all(gradient[:, 0].abs().sum(dim=-1) > 0)


def test_chrono_in_the_model_uses_the_task_length() -> None:
    model = _model("lstm", "recall", length=7)
    forget = model.backbone.rnn.bias_ih_l0[_rows_for(16, "f")]
    assert forget.max() <= math.log(6) + 1e-6 and forget.min() >= 0.0
    assert_close(model.backbone.rnn.bias_ih_l0[_rows_for(16, "i")], -forget)


def _rows_for(hidden: int, gate: str) -> slice:
    position = "ifgo".index(gate)
    return slice(position * hidden, (position + 1) * hidden)


def test_transformer_width_must_match_the_input() -> None:
    from seqlab.models.backbones import build_backbone

    with pytest.raises(ValueError, match=r"input width \(8\) must equal model.d_model \(16\)"):
        build_backbone(_config("transformer"), input_size=8, causal=True, expected_length=5)
