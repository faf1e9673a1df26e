"""The Transformer-XL language model (seqlab.models.language_model_xl): segments read with the
memory carried equal one pass over the whole text while the memory holds the whole past, and
equal a pass over the last M tokens of the earlier segment (one layer) when it holds less; no
gradient crosses the segment boundary; memory_length 0 is the relative-position model without
memory (the "plain" model: its forward never carries anything, and a model with memory reading
a segment with no memory before it gives the plain model's logits); a tiny model learns a token
of the previous segment with memory and cannot without; generation equals re-reading the
segment after its memory, across segment boundaries; the config checks.

References: Dai et al. 2019, sec. 3.2: h^n_{tau+1} reads [SG(m^{n-1}_tau) o h^{n-1}_{tau+1}],
so with causal attention and a memory as long as the past, the states of a segment are exactly
those of one pass over the whole text. Models run in float64 and eval mode unless a test says
otherwise.
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
    TransformerLM,
    TransformerXLLM,
    TransformerXLState,
    build_language_model,
)
from seqlab.models.language_model_config import LMTransformerConfig

VOCAB = 11
CONTEXT = 5
SMALL = {"num_layers": 2, "num_heads": 2, "d_model": 16, "context": CONTEXT, "dropout": 0.0,
         "positions": "relative"}  # fmt: skip


def _xl(memory_length: int, *, seed: int = 0, **overrides) -> TransformerXLLM:
    torch.manual_seed(seed)
    config = LMTransformerConfig(**{**SMALL, "memory_length": memory_length, **overrides})
    model = build_language_model(config, vocab_size=VOCAB)
    assert isinstance(model, TransformerXLLM)
    return model.double().eval()


def _ids(batch: int, length: int, *, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (batch, length), generator=generator)  # (B, T)


def _segments(model: TransformerXLLM, ids: Tensor) -> Tensor:
    """forward over ids cut into segments of the context from the first token, the memory
    carried: logits (B, N, V)."""
    memory, logits = None, []
    for first in range(0, ids.shape[1], model.context):
        segment_logits, memory = model(ids[:, first : first + model.context], memory)
        logits.append(segment_logits)
    return torch.cat(logits, dim=1)


# ---- the memory ----
@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_segments_with_a_memory_of_the_whole_past_equal_one_pass(impl, norm_first):
    ids = _ids(2, 3 * CONTEXT, seed=1)
    model = _xl(2 * CONTEXT, impl=impl, norm_first=norm_first)
    # The same weights with a context of the whole text and no memory: one pass.
    whole_model = _xl(0, context=3 * CONTEXT, impl=impl, norm_first=norm_first)
    whole_model.load_state_dict(model.state_dict())
    whole, memory = whole_model(ids)
    assert memory is None
    assert_close(_segments(model, ids), whole, rtol=0, atol=1e-12)
    # Without the memory, the second and third segments see less and give other logits.
    fresh, _ = model(ids[:, CONTEXT : 2 * CONTEXT])
    assert (fresh - whole[:, CONTEXT : 2 * CONTEXT]).abs().max() > 1e-5


def test_a_short_memory_keeps_the_last_m_states_of_the_earlier_segment():
    memory_length = 2
    model = _xl(memory_length, num_layers=1)
    ids = _ids(3, 2 * CONTEXT, seed=2)
    _, memory = model(ids[:, :CONTEXT])
    assert memory is not None and memory.shape == (1, 3, memory_length, 16)
    second, _ = model(ids[:, CONTEXT:], memory)
    # One layer reads the embeddings, so its memory is the last M tokens' embeddings, and the
    # second segment's logits are those of one pass that starts M tokens before it.
    assert_close(memory[0], model.token_embedding(ids[:, CONTEXT - memory_length : CONTEXT]))
    window = ids[:, CONTEXT - memory_length :]  # (B, M + T)
    wide = _xl(0, num_layers=1, context=CONTEXT + memory_length)
    wide.load_state_dict(model.state_dict())
    expected, _ = wide(window)
    assert_close(second, expected[:, memory_length:], rtol=0, atol=1e-12)


def test_no_gradient_crosses_the_segment_boundary():
    model = _xl(CONTEXT).train()  # dropout is 0; training mode as the task trains
    ids = _ids(2, 2 * CONTEXT, seed=3)
    embedded: list[Tensor] = []
    handle = model.token_embedding.register_forward_hook(lambda *args: embedded.append(args[2]))
    first_logits, memory = model(ids[:, :CONTEXT])
    second_logits, next_memory = model(ids[:, CONTEXT:], memory)
    handle.remove()
    assert memory is not None and next_memory is not None
    assert not memory.requires_grad and not next_memory.requires_grad
    first_embeddings = embedded[0]  # (B, T, D) the first segment's embeddings
    second_loss = F.cross_entropy(second_logits.flatten(0, 1), ids[:, CONTEXT:].flatten())
    (crossing,) = torch.autograd.grad(second_loss, first_embeddings, allow_unused=True)
    assert crossing is None  # no path from segment 2's loss back into segment 1
    # The control: segment 1's own loss does reach its embeddings, and segment 2's loss
    # reaches the weights (the memory's values were used, only their gradient is cut).
    first_loss = F.cross_entropy(first_logits.flatten(0, 1), ids[:, :CONTEXT].flatten())
    (own,) = torch.autograd.grad(first_loss, first_embeddings)
    assert own.abs().max() > 0
    second_loss.backward()
    assert model.blocks.layers[0].self_attn.in_proj_weight.grad.abs().max() > 0


def test_memory_length_zero_is_the_relative_model_without_memory():
    plain = _xl(0)
    with_memory = _xl(CONTEXT, seed=1)
    with_memory.load_state_dict(plain.state_dict())  # no parameter depends on the memory
    ids = _ids(2, 3 * CONTEXT, seed=4)
    # The plain model carries nothing: each segment is read alone ...
    logits, memory = plain(ids[:, CONTEXT : 2 * CONTEXT])
    assert memory is None
    carried = _segments(plain, ids)
    assert_close(carried[:, CONTEXT : 2 * CONTEXT], logits, rtol=0, atol=0)
    # ... and a segment with nothing before it reads the same with or without a memory length.
    first, _ = with_memory(ids[:, :CONTEXT])
    assert_close(first, plain(ids[:, :CONTEXT])[0], rtol=0, atol=1e-12)
    assert (with_memory(ids[:, CONTEXT : 2 * CONTEXT], with_memory(ids[:, :CONTEXT])[1])[0]
            - logits).abs().max() > 1e-5  # fmt: skip


def test_the_default_config_keeps_the_learned_positions_model():
    config = LMTransformerConfig()
    assert (config.positions, config.memory_length) == ("learned", 0)
    model = build_language_model(LMTransformerConfig(**{**SMALL, "positions": "learned"}),
                                 vocab_size=VOCAB)  # fmt: skip
    assert type(model) is TransformerLM


def test_the_memory_carries_a_token_of_the_previous_segment_the_plain_model_cannot_see():
    """Each row repeats a random block of T tokens: segment 2 is segment 1 again, so the token
    after position i of segment 2 is token i + 1 of segment 1, T - 1 positions back. Without
    memory, T - 1 of segment 2's T targets lie in segment 1, out of sight: its loss cannot go
    below (T - 1) / T ln V in expectation. With memory, one layer learns to look T - 1 back."""
    vocab, length = 8, 4

    def rows(generator: torch.Generator, count: int) -> Tensor:
        block = torch.randint(0, vocab, (count, length), generator=generator)  # (B, T)
        return torch.cat([block, block, block[:, :1]], dim=1)  # (B, 2T + 1)

    def second_segment_loss(model: TransformerXLLM, text: Tensor) -> Tensor:
        _, memory = model(text[:, :length])
        logits, _ = model(text[:, length : 2 * length], memory)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), text[:, length + 1 :].flatten())

    losses = {}
    for memory_length in (length, 0):
        torch.manual_seed(0)
        config = LMTransformerConfig(num_layers=1, num_heads=2, d_model=32, context=length,
                                     dropout=0.0, positions="relative",
                                     memory_length=memory_length)  # fmt: skip
        model = build_language_model(config, vocab_size=vocab)
        assert isinstance(model, TransformerXLLM)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        generator = torch.Generator().manual_seed(1)
        for _ in range(120):
            loss = second_segment_loss(model, rows(generator, 32))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            test_rows = rows(torch.Generator().manual_seed(2), 512)
            losses[memory_length] = float(second_segment_loss(model.eval(), test_rows))
    floor = (length - 1) / length * math.log(vocab)  # 1.56 nats
    assert losses[length] < 0.05
    assert losses[0] > floor - 0.1


# ---- generation ----
def _decode(model: TransformerXLLM, prompt: Tensor, fed: Tensor, *, use_cache: bool) -> Tensor:
    """start(prompt), then decode_step each column of fed: every call's logits (B, 1 + n, V)."""
    logits, state = model.start(prompt, use_cache=use_cache)
    every = [logits]
    for column in range(fed.shape[1]):
        logits, state = model.decode_step(fed[:, column : column + 1], state)
        every.append(logits)
    return torch.stack(every, dim=1)


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("prompt_length", [1, CONTEXT, CONTEXT + 2, 3 * CONTEXT + 1])
def test_generation_with_memory_equals_the_segments_read_after_their_memory(
    prompt_length, use_cache
):
    model = _xl(CONTEXT + 2)
    ids = _ids(2, prompt_length + 3 * CONTEXT, seed=5)
    expected = _segments(model, ids)[:, prompt_length - 1 :]  # (B, 1 + n, V)
    logits = _decode(model, ids[:, :prompt_length], ids[:, prompt_length:], use_cache=use_cache)
    assert_close(logits, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("use_cache", [True, False])
def test_without_memory_generation_restarts_the_window_as_the_learned_model_does(use_cache):
    model = _xl(0)
    ids = _ids(2, 20, seed=6)
    logits = _decode(model, ids[:, :8], ids[:, 8:], use_cache=use_cache)  # prompt > context
    window = ids[:, 8 - CONTEXT : 8].tolist()
    expected = [model(torch.tensor(window))[0][:, -1]]
    for column in range(8, 20):
        window = [row + [int(ids[b, column])] for b, row in enumerate(window)]
        if len(window[0]) > CONTEXT:
            window = [row[-(CONTEXT // 2) :] for row in window]
        expected.append(model(torch.tensor(window))[0][:, -1])
    assert_close(logits, torch.stack(expected, dim=1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("use_cache", [True, False])
def test_reorder_state_selects_rows_and_the_searches_agree_with_and_without_the_cache(use_cache):
    model = _xl(CONTEXT)
    ids = _ids(3, 2 * CONTEXT + 2, seed=7)
    _, state = model.start(ids[:, :-1], use_cache=use_cache)
    indices = torch.tensor([2, 0, 0])
    reordered = model.reorder_state(state, indices)
    assert isinstance(reordered, TransformerXLState)
    after, _ = model.decode_step(ids[indices, -1:], reordered)
    alone, _ = model.decode_step(ids[:, -1:], state)
    assert_close(after, alone[indices], rtol=0, atol=1e-12)
    limits = torch.tensor([12, 9])
    found = {}
    for cache in (True, False):
        start = model.start_decoding(2, use_cache=cache)
        found[cache] = [
            greedy_search(model, start, max_lengths=limits, bos_id=1, eos_id=2, pad_id=0),
            beam_search(model, model.start_decoding(2, use_cache=cache), beam_size=3,
                        max_lengths=limits, bos_id=1, eos_id=2, pad_id=0),
        ]  # fmt: skip
    for cached, reread in zip(found[True], found[False], strict=True):
        assert [h.tokens for h in cached] == [h.tokens for h in reread]


# ---- inputs and config ----
def test_inputs_are_checked():
    model = _xl(CONTEXT)
    with pytest.raises(ValueError, match=r"ids has 6 tokens per row but model.context is 5"):
        model(_ids(1, 6))
    with pytest.raises(ValueError, match=r"memory holds 6 positions but model.memory_length is 5"):
        model(_ids(1, 2), torch.zeros(2, 1, 6, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"memory must be \(L, B, m, D\) with L = 2"):
        model(_ids(1, 2), torch.zeros(1, 1, 2, 16, dtype=torch.float64))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"memory_length": -1}, r"model.memory_length \(-1\) must be at least 0"),
        ({"memory_length": 4, "positions": "learned"},
         r"model.memory_length \(4\) needs model.positions 'relative'"),
    ],
)  # fmt: skip
def test_config_checks_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        LMTransformerConfig(**{**SMALL, **fields})
