"""Local attention in the decoder-only language model (``model.window``): the causal band holds
through the stacked layers, a window covering the context is full attention, cached decoding
equals the full forward, and the config refuses what it cannot honour."""

from __future__ import annotations

import pytest
import torch

from seqlab.models.language_model_config import LMTransformerConfig
from seqlab.models.language_model_transformer import TransformerLM

SMALL = {"num_layers": 2, "num_heads": 2, "d_model": 16, "dropout": 0.0, "context": 16}


def _model(seed: int = 0, **fields: object) -> TransformerLM:
    torch.manual_seed(seed)
    return TransformerLM(LMTransformerConfig(**{**SMALL, **fields}), vocab_size=11).eval()


def test_a_window_covering_the_context_is_full_attention() -> None:
    ids = torch.randint(0, 11, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(_model(window=16)(ids), _model()(ids), atol=1e-6, rtol=0)


def test_each_layer_reaches_window_minus_one_tokens_back() -> None:
    """Two layers of window 3: position 10 reads positions 8-10 directly and 6-10 through the
    first layer, so changing token 5 leaves it alone while changing token 6 does not."""
    model = _model(window=3)
    ids = torch.randint(0, 11, (1, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(ids)[0, 10]  # (V,)
        for position, changes in ((5, False), (6, True)):
            edited = ids.clone()
            edited[0, position] = (ids[0, position] + 1) % 11
            moved = (model(edited)[0, 10] - logits).abs().max().item()
            assert (moved > 1e-4) is changes, (position, moved)


def test_cached_decoding_with_a_window_equals_the_full_forward() -> None:
    model = _model(window=4)
    ids = torch.randint(0, 11, (2, 12), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = model(ids)  # (B, T, V)
        logits, state = model.start(ids[:, :5])
        stepped = [logits]
        for t in range(5, 12):
            logits, state = model.decode_step(ids[:, t : t + 1], state)
            stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped[:-1], dim=1), full[:, 4:11], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"window": 0}, "model.window (0) must be a positive number of tokens"),
        ({"window": 17}, "model.window (17) is larger than model.context (16)"),
        (
            {"window": 4, "positions": "relative"},
            "model.window (4) works with model.positions 'learned', not 'relative'",
        ),
    ],
)
def test_the_config_refuses_a_window_it_cannot_honour(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LMTransformerConfig(**{**SMALL, **fields})
