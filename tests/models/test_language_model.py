"""The language models (seqlab.models.language_model*): nanoGPT's parameter count and GPT-2's
initialisation, causality, the cache equal to re-reading the window (within and past the
context, whose restart rule is checked against a forward over the window it documents), the
prompt-crop rule, truncated BPTT equal to one pass, tying, the two paths, overfitting one batch,
reorder_state, the searches of seqlab.infer.decoding, and the config checks.

Every model runs in float64 and eval mode (dropout off) unless a test says otherwise, so
comparisons are exact up to rounding.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.testing import assert_close

from seqlab.infer.decoding import beam_search, greedy_search
from seqlab.models.language_model import (
    RecurrentLM,
    RecurrentLMState,
    TransformerLM,
    TransformerLMState,
    build_language_model,
)
from seqlab.models.language_model_config import LMRecurrentConfig, LMTransformerConfig

VOCAB = 13
CONTEXT = 8
SMALL_TRANSFORMER = {"num_layers": 2, "num_heads": 2, "d_model": 16, "context": CONTEXT}
CONFIGS = {
    "transformer": LMTransformerConfig(**SMALL_TRANSFORMER),
    "transformer-post-norm-untied-reference": LMTransformerConfig(
        **SMALL_TRANSFORMER,
        dim_feedforward=24,
        norm_first=False,
        activation="relu",
        bias=True,
        tie_weights=False,
        impl="reference",
    ),
    "lstm": LMRecurrentConfig(hidden_size=12, num_layers=2),
    "gru-orthogonal-forget-bias": LMRecurrentConfig(
        family="gru",
        hidden_size=12,
        num_layers=1,
        init="forget-bias-1",
        recurrent_init="orthogonal",
    ),
    "rnn-relu-untied-reference": LMRecurrentConfig(
        family="rnn",
        embed_dim=8,
        hidden_size=12,
        nonlinearity="relu",
        tie_weights=False,
        impl="reference",
    ),
}
NAMES = list(CONFIGS)
TRANSFORMERS = [name for name in NAMES if name.startswith("transformer")]
RECURRENT = [name for name in NAMES if not name.startswith("transformer")]


def _build(name: str) -> TransformerLM | RecurrentLM:
    torch.manual_seed(0)
    return build_language_model(CONFIGS[name], vocab_size=VOCAB).double().eval()


def _ids(batch: int, length: int, *, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (batch, length), generator=generator)  # (B, T)


def _logits(model: TransformerLM | RecurrentLM, ids: Tensor) -> Tensor:
    """forward's logits (B, T, V), whatever the family returns beside them."""
    output = model(ids)
    return output[0] if isinstance(model, RecurrentLM) else output


def _embedding(model: TransformerLM | RecurrentLM) -> torch.nn.Embedding:
    return model.token_embedding if isinstance(model, TransformerLM) else model.embedding


def _parts(state) -> list[Tensor]:
    """A recurrent state's tensors: h, or h and c for the LSTM."""
    return list(state) if isinstance(state, tuple) else [state]


def _generate(model, prompt: Tensor, steps: int, *, use_cache: bool):
    """Sampling from start(prompt) by the Gumbel-max trick with noise drawn from a fixed seed
    (an untrained model's greedy choice soon repeats one token): every call's logits, and the
    tokens fed. Two runs choose alike unless their logits differ."""
    generator = torch.Generator().manual_seed(10)
    logits, state = model.start(prompt, use_cache=use_cache)
    all_logits, fed = [logits], []
    for _ in range(steps):
        uniform = torch.rand(logits.shape, generator=generator, dtype=logits.dtype)  # (B, V)
        gumbel = -torch.log(-torch.log(uniform))  # (B, V)
        tokens = (logits + gumbel).argmax(dim=-1, keepdim=True)  # (B, 1)
        logits, state = model.decode_step(tokens, state)
        all_logits.append(logits)
        fed.append(tokens)
    return all_logits, torch.cat(fed, dim=1)  # steps + 1 x (B, V), (B, steps)


# ---- sizes and initialisation against nanoGPT ----
def test_the_default_transformer_is_nanogpts_shakespeare_char_model_with_its_parameter_count():
    config = LMTransformerConfig()
    assert (config.num_layers, config.num_heads, config.d_model) == (6, 6, 384)
    assert (config.context, config.dropout, config.feedforward_width) == (256, 0.2, 4 * 384)
    assert config.norm_first and config.tie_weights and not config.bias
    L, D, F_, V, T = 6, 384, 4 * 384, 65, 256
    attention = 3 * D * D + D * D  # W^Q, W^K, W^V, W^O; bias False
    feed_forward = D * F_ + F_ * D
    block = attention + feed_forward + 2 * D  # two LayerNorm gains
    without_positions = L * block + D + V * D  # final LayerNorm gain, one tied embedding matrix
    model = build_language_model(config, vocab_size=V)
    total = sum(p.numel() for p in model.parameters())
    assert total == without_positions + T * D == 10_745_088
    # nanoGPT's get_num_params leaves out the position embeddings: "number of parameters: 10.65M"
    assert without_positions == 10_646_784
    assert f"{without_positions / 1e6:.2f}M" == "10.65M"


def test_the_transformer_starts_from_gpt2s_initialisation():
    torch.manual_seed(0)
    model = build_language_model(LMTransformerConfig(), vocab_size=65).requires_grad_(False)
    residual = 0.02 / math.sqrt(2 * 6)
    layer = model.blocks.layers[3]
    for tensor, std in [
        (model.token_embedding.weight, 0.02),
        (model.positions.weight, 0.02),
        (layer.self_attn.in_proj_weight, 0.02),
        (layer.linear1.weight, 0.02),
        (layer.self_attn.out_proj.weight, residual),
        (layer.linear2.weight, residual),
    ]:
        assert abs(float(tensor.std()) / std - 1.0) < 0.03
        assert abs(float(tensor.mean())) < 0.1 * std
    assert torch.equal(layer.norm1.weight, torch.ones(384))
    assert layer.norm1.bias is None and layer.linear1.bias is None


# ---- causality ----
@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("name", NAMES)
def test_a_later_token_never_changes_earlier_logits(name, impl):
    model = _build(name)
    (model.blocks if isinstance(model, TransformerLM) else model.backbone.rnn).impl = impl
    ids = _ids(3, CONTEXT)
    logits = _logits(model, ids)  # (B, T, V)
    for position in (1, 5):
        changed = ids.clone()
        changed[:, position] = (changed[:, position] + 1) % VOCAB
        other = _logits(model, changed)
        assert torch.equal(other[:, :position], logits[:, :position])
        assert (other[:, position] - logits[:, position]).abs().max() > 1e-5


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_forward_refuses_more_than_the_context(name):
    model = _build(name)
    with pytest.raises(ValueError, match=r"ids has 9 tokens per row but model.context is 8"):
        model(_ids(2, CONTEXT + 1))


# ---- incremental decoding: the cache and the context policy ----
@pytest.mark.parametrize("prompt_length", [3, CONTEXT + 5])
@pytest.mark.parametrize("name", NAMES)
def test_cached_decoding_equals_rereading_token_for_token_past_the_context(name, prompt_length):
    model = _build(name)
    prompt = _ids(3, prompt_length, seed=1)
    steps = 3 * CONTEXT  # several restarts of the Transformer's window
    cached_logits, cached_tokens = _generate(model, prompt, steps, use_cache=True)
    reread_logits, reread_tokens = _generate(model, prompt, steps, use_cache=False)
    assert torch.equal(cached_tokens, reread_tokens)
    assert len(set(cached_tokens.flatten().tolist())) > VOCAB // 2  # varied text
    for step, (with_cache, without) in enumerate(zip(cached_logits, reread_logits, strict=True)):
        assert_close(with_cache, without, rtol=0, atol=1e-5, msg=f"step {step}")


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_each_step_reads_the_window_the_docstring_states(name, use_cache):
    model = _build(name)
    stream = _ids(2, 20, seed=2)  # a prompt of 5, then 15 tokens fed one by one
    # Window length after each call, by the rule: grow to the context (8), then restart from the
    # last context // 2 = 4 tokens (the new one included) and grow again.
    expected_lengths = [5, 6, 7, 8, 4, 5, 6, 7, 8, 4, 5, 6, 7, 8, 4, 5]
    logits, state = model.start(stream[:, :5], use_cache=use_cache)
    lengths = [state.window.shape[1]]
    steps = [logits]
    for t in range(5, 20):
        logits, state = model.decode_step(stream[:, t : t + 1], state)
        lengths.append(state.window.shape[1])
        steps.append(logits)
        if state.cache is not None:
            assert state.cache.offset == state.window.shape[1]
    assert lengths == expected_lengths
    for end, length, step_logits in zip(range(5, 21), expected_lengths, steps, strict=True):
        window = stream[:, end - length : end]
        assert_close(step_logits, model(window)[:, -1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_a_prompt_longer_than_the_context_keeps_its_last_context_tokens(name, use_cache):
    model = _build(name)
    prompt = _ids(2, CONTEXT + 5, seed=3)
    logits, state = model.start(prompt, use_cache=use_cache)
    assert torch.equal(state.window, prompt[:, -CONTEXT:])
    assert_close(logits, model(prompt[:, -CONTEXT:])[:, -1], rtol=0, atol=1e-10)
    cropped_logits, cropped = model.start(prompt[:, -CONTEXT:], use_cache=use_cache)
    assert torch.equal(logits, cropped_logits)
    token = _ids(2, 1, seed=4)
    assert torch.equal(model.decode_step(token, state)[0], model.decode_step(token, cropped)[0])


@pytest.mark.parametrize("name", RECURRENT)
def test_the_recurrent_model_reads_the_whole_prompt(name):
    model = _build(name)
    prompt = _ids(2, CONTEXT + 5, seed=3)
    logits, _ = model.start(prompt)
    assert_close(logits, model(prompt)[0][:, -1], rtol=0, atol=1e-12)
    cropped, _ = model.start(prompt[:, -CONTEXT:])
    assert (cropped - logits).abs().max() > 1e-6  # the early tokens still count


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_decoding_from_the_empty_state_equals_forward(name, use_cache):
    model = _build(name)
    ids = _ids(3, CONTEXT, seed=5)
    state = model.start_decoding(3, use_cache=use_cache)
    forward = _logits(model, ids)  # (B, T, V)
    for t in range(CONTEXT):
        logits, state = model.decode_step(ids[:, t : t + 1], state)
        assert_close(logits, forward[:, t], rtol=0, atol=1e-10)


@pytest.mark.parametrize("beam_size", [None, 3])
@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_the_searches_find_the_same_text_with_and_without_the_cache(name, beam_size):
    model = _build(name)
    # An untrained model rarely ends by itself: all three rows run to their limits, past the
    # context (8) for the first two.
    limits = torch.tensor([3 * CONTEXT, CONTEXT + 3, 4])
    special = {"bos_id": 0, "eos_id": 1, "pad_id": 2, "length_penalty": 0.6}

    def search(use_cache):
        state = model.start_decoding(3, use_cache=use_cache)
        if beam_size is None:
            return greedy_search(model, state, max_lengths=limits, **special)
        return beam_search(model, state, beam_size=beam_size, max_lengths=limits, **special)

    cached, reread = search(True), search(False)
    assert [h.tokens for h in cached] == [h.tokens for h in reread]
    assert [len(h.tokens) for h in cached] == limits.tolist()
    assert_close([h.score for h in cached], [h.score for h in reread], rtol=0, atol=1e-5)


# ---- truncated BPTT ----
@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("name", RECURRENT)
def test_two_segments_with_the_state_carried_equal_one_pass(name, impl):
    model = _build(name)
    model.backbone.rnn.impl = impl
    ids = _ids(3, 12, seed=6)
    whole, final = model(ids)  # (B, T, V)
    first, state = model(ids[:, :5])
    second, carried = model(ids[:, 5:], state)
    assert_close(torch.cat([first, second], dim=1), whole, rtol=0, atol=1e-12)
    for a, b in zip(_parts(carried), _parts(final), strict=True):
        assert_close(a, b, rtol=0, atol=1e-12)
    fresh, _ = model(ids[:, 5:])
    assert (fresh - second).abs().max() > 1e-4  # the carried state matters


# ---- tying, the two paths ----
@pytest.mark.parametrize(
    ("name", "untied_name"),
    [
        ("transformer", "transformer-post-norm-untied-reference"),
        ("lstm", "rnn-relu-untied-reference"),
    ],
)
def test_tied_weights_are_one_tensor(name, untied_name):
    model = _build(name)
    embedding = _embedding(model)
    assert model.output_weight is embedding.weight
    assert model.output_projection is None
    # Held once, so the weights file stores it once.
    matrices = [key for key, value in model.state_dict().items() if value.shape[0] == VOCAB]
    assert [key for key in matrices if key.endswith("weight")] == [
        "token_embedding.weight" if isinstance(model, TransformerLM) else "embedding.weight"
    ]
    # The output's gradient lands in the embedding: rows of tokens never read still get one.
    ids = torch.zeros(2, 4, dtype=torch.long)  # only token 0 is read
    _logits(model, ids).logsumexp(-1).sum().backward()
    assert embedding.weight.grad[1:].abs().sum() > 0
    untied = _build(untied_name)
    assert untied.output_projection is not None
    assert untied.output_weight.data_ptr() != _embedding(untied).weight.data_ptr()


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_and_fused_paths_give_the_same_logits(name):
    config = CONFIGS[name]
    other_impl = "reference" if config.impl == "fused" else "fused"
    model = _build(name)
    other = build_language_model(
        type(config)(**{**config.__dict__, "impl": other_impl}), vocab_size=VOCAB
    ).double()
    other.load_state_dict(model.state_dict())
    other.eval()
    ids = _ids(3, CONTEXT, seed=7)
    assert_close(_logits(other, ids), _logits(model, ids), rtol=0, atol=1e-10)


# ---- training ----
@pytest.mark.parametrize(
    ("config", "steps"),
    [
        (LMTransformerConfig(num_layers=2, num_heads=2, d_model=32, context=16, dropout=0.0), 60),
        (LMRecurrentConfig(hidden_size=32, num_layers=1, dropout=0.0), 150),
    ],
)
def test_a_tiny_model_overfits_one_batch(config, steps):
    torch.manual_seed(0)
    model = build_language_model(config, vocab_size=VOCAB)
    ids = _ids(4, 17, seed=8)
    ids[:, 0] = torch.arange(4)  # every prefix differs, so every next token can be learnt
    inputs, targets = ids[:, :-1], ids[:, 1:]  # (B, 16) each
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = F.cross_entropy(_logits(model, inputs).flatten(0, 1), targets.flatten())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        final = F.cross_entropy(_logits(model, inputs).flatten(0, 1), targets.flatten())
    assert float(final) < 0.05


# ---- reorder_state ----
def _state_tensors(state) -> list[tuple[Tensor, int]]:
    """Every tensor of a decoding state, with its batch dimension."""
    if isinstance(state, TransformerLMState):
        parts = [(state.window, 0)]
        if state.cache is not None:
            parts += [(t, 0) for layer in state.cache.layers for t in (layer.key, layer.value)]
        return parts
    assert isinstance(state, RecurrentLMState)
    if state.prefix is not None:
        return [(state.prefix, 0)]
    return [(t, 1) for t in _parts(state.hidden)]


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_reorder_state_selects_rows_exactly(name, use_cache):
    model = _build(name)
    ids = _ids(3, 4, seed=9)
    _, state = model.start(ids[:, :3], use_cache=use_cache)
    before = [(tensor.clone(), dim) for tensor, dim in _state_tensors(state)]
    assert before
    indices = torch.tensor([2, 0, 0, 1])
    reordered = model.reorder_state(state, indices)
    after = _state_tensors(reordered)
    assert len(after) == len(before)
    for (old, dim), (new, _) in zip(before, after, strict=True):
        assert torch.equal(new, old.index_select(dim, indices))
    logits, _ = model.decode_step(ids[indices, 3:4], reordered)
    expected, _ = model.start(ids, use_cache=use_cache)
    assert_close(logits, expected[indices], rtol=0, atol=1e-10)


# ---- building and checking ----
def test_build_language_model_picks_the_family_and_the_recurrent_initialisation():
    assert isinstance(_build("transformer"), TransformerLM)
    gru = _build("gru-orthogonal-forget-bias")
    assert isinstance(gru, RecurrentLM)
    rnn = gru.backbone.rnn
    assert rnn.mode == "GRU"
    assert torch.equal(rnn.bias_ih_l0[12:24], torch.ones(12, dtype=torch.float64))  # update z
    assert torch.equal(rnn.bias_hh_l0[12:24], torch.zeros(12, dtype=torch.float64))
    block = rnn.weight_hh_l0[:12]  # the reset gate's recurrent weights: orthogonal
    assert_close(block @ block.T, torch.eye(12, dtype=torch.float64), rtol=0, atol=1e-6)
    relu = _build("rnn-relu-untied-reference").backbone.rnn
    assert (relu.mode, relu.input_size, relu.hidden_size) == ("RNN_RELU", 8, 12)
    with pytest.raises(TypeError, match="LMTransformerConfig or LMRecurrentConfig"):
        build_language_model(object(), vocab_size=5)


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_inputs_are_checked(name):
    model = _build(name)
    with pytest.raises(ValueError, match=r"ids must be integer token ids of shape \(B, T\)"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"prompt_ids must hold at least one token per row"):
        model.start(torch.zeros(2, 0, dtype=torch.long))
    _, state = model.start(_ids(3, 2))
    with pytest.raises(ValueError, match=r"tokens must be \(B, 1\) = \(3, 1\), got \(3, 2\)"):
        model.decode_step(_ids(3, 2), state)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LMTransformerConfig(d_model=30, num_heads=4), r"model.d_model \(30\)"),
        (lambda: LMTransformerConfig(context=0), r"model.context \(0\) must be a positive"),
        (lambda: LMTransformerConfig(dim_feedforward=0), r"model.dim_feedforward \(0\)"),
        (lambda: LMTransformerConfig(dropout=1.0), r"model.dropout \(1.0\)"),
        (lambda: LMTransformerConfig(family="lstm"), r"model.family \('lstm'\)"),
        (lambda: LMRecurrentConfig(family="transformer"), r"model.family \('transformer'\)"),
        (lambda: LMRecurrentConfig(embed_dim=8), r"model.tie_weights needs model.embed_dim \(8\)"),
        (lambda: LMRecurrentConfig(num_layers=0), r"model.num_layers \(0\)"),
        (lambda: LMRecurrentConfig(nonlinearity="relu"), r"model.nonlinearity \('relu'\)"),
        (lambda: LMRecurrentConfig(init="chrono"), r"model.init 'chrono' needs"),
        (lambda: LMRecurrentConfig(chrono_max_steps=2), r"model.chrono_max_steps \(2\)"),
        (lambda: LMRecurrentConfig(dropout=-0.1), r"model.dropout \(-0.1\)"),
    ],
)
def test_config_checks_name_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_config_widths_follow_the_model_width():
    assert LMTransformerConfig(d_model=64, num_heads=4).feedforward_width == 256
    assert LMTransformerConfig(dim_feedforward=100).feedforward_width == 100
    assert LMRecurrentConfig(hidden_size=20).token_width == 20
    assert LMRecurrentConfig(hidden_size=20, embed_dim=8, tie_weights=False).token_width == 8
