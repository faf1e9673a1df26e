"""Claim 11 (local attention's memory): every verdict of its rule, and the measurement against
hand byte counts and the layer it stands for."""

from __future__ import annotations

import pytest
import torch

from seqlab.lab.claims import local_attention as claim
from seqlab.lab.claims import verdicts
from seqlab.lab.claims.scaling import log_log_slope

LENGTHS = [1024, 16384]


def _numbers(*, reference: float, local: float, fused: float, longest: int = 16384) -> dict:
    """Synthetic numbers with the given memory slopes (bytes = length ** slope)."""
    lengths = [1024, longest]

    def by_length(slope: float) -> dict[str, float]:
        return {str(n): float(n) ** slope for n in lengths}

    slopes = {"full": fused, "full_reference": reference, "local": local}
    return {
        "lengths": lengths,
        "window": 256,
        "kernel": "FLASH_ATTENTION",
        "hardware": "a test CPU",
        "peak_bytes": {name: by_length(slope) for name, slope in slopes.items()},
        "memory_slope": {name: {"all": slope} for name, slope in slopes.items()},
        "time_slope": {"full": {"all": 2.0}, "local": {"all": 1.0}},
    }


@pytest.mark.parametrize(
    ("reference", "local", "fused", "longest", "expected"),
    [
        (2.0, 1.0, 2.0, 16384, verdicts.HOLDS),
        (2.0, 1.0, 1.0, 16384, verdicts.HOLDS_WITH_CAVEAT),  # a flash kernel keeps memory linear
        (2.0, 1.0, 2.0, 4096, verdicts.HOLDS_WITH_CAVEAT),  # short of 10,000, extrapolated
        (1.5, 1.0, 1.5, 16384, verdicts.DOES_NOT_HOLD),  # full attention not quadratic
        (2.0, 1.6, 2.0, 16384, verdicts.DOES_NOT_HOLD),  # the window not linear
        (2.0, 1.99, 2.0, 16384, verdicts.DOES_NOT_HOLD),  # linear-ish but no tenfold saving
    ],
)
def test_every_verdict_of_the_rule(
    reference: float, local: float, fused: float, longest: int, expected: str
) -> None:
    numbers = _numbers(reference=reference, local=local, fused=fused, longest=longest)
    verdict, reason = claim.local_attention_memory(numbers)
    assert verdict == expected, reason


def test_a_saving_short_of_ten_thousand_tokens_is_extrapolated_along_the_slopes() -> None:
    """Measured to 2,048 tokens with slopes 2 and 1: a 5x saving there is 5 x (10,000 / 2,048)
    = 24x at 10,000 tokens, so it holds with a caveat; a 2x saving is 9.8x there, short of 10x."""
    numbers = _numbers(reference=2.0, local=1.0, fused=2.0, longest=2048)
    numbers["peak_bytes"]["local"]["2048"] = numbers["peak_bytes"]["full_reference"]["2048"] / 5
    verdict, reason = claim.local_attention_memory(numbers)
    assert verdict == verdicts.HOLDS_WITH_CAVEAT
    assert "5.0 times less, 24 times at 10,000 extrapolated" in reason
    numbers["peak_bytes"]["local"]["2048"] = numbers["peak_bytes"]["full_reference"]["2048"] / 2
    verdict, reason = claim.local_attention_memory(numbers)  # 2 x 4.88 = 9.8x: short of 10x
    assert verdict == verdicts.DOES_NOT_HOLD and "10 times at 10,000" in reason


def test_log_log_slope_of_a_power_law() -> None:
    assert log_log_slope([1, 10, 100], [5, 50, 500]) == pytest.approx(1.0)
    assert log_log_slope([2, 4, 8], [12, 48, 192]) == pytest.approx(2.0)


TINY = {"device": "cpu", "d_model": 8, "heads": 2, "window": 8, "seed": 0, "warmup": 0,
        "repeats": 1, "seconds_per_length": 0.0, "lengths": [128, 256, 512]}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_numbers() -> dict:
    return claim.measure(TINY)


def test_written_out_memory_holds_the_two_score_matrices_and_grows_quadratically(
    tiny_numbers: dict,
) -> None:
    for length in TINY["lengths"]:
        matrices = claim.reference_attention_bytes(2, length, 4)  # 2 x (H, T, T) float32
        measured = tiny_numbers["peak_bytes"]["full_reference"][str(length)]
        # At least the matrices; the rest (activations of width 8 to 32) is far smaller.
        assert matrices <= measured < 1.5 * matrices
    assert tiny_numbers["memory_slope"]["full_reference"]["all"] > 1.8
    assert tiny_numbers["reference_skipped_needing_bytes"] == {}


def test_the_local_layer_stays_linear_and_well_below_full_attention(tiny_numbers: dict) -> None:
    local = tiny_numbers["peak_bytes"]["local"]
    # Lengths that are whole numbers of blocks: every block holds the same tensors, so the bytes
    # are exactly proportional to the length.
    assert local["512"] == 2 * local["256"] == 4 * local["128"]
    assert tiny_numbers["memory_slope"]["local"]["all"] == pytest.approx(1.0)
    # Linear against quadratic: the saving doubles with the length.
    reference = tiny_numbers["peak_bytes"]["full_reference"]
    savings = [reference[n] / local[n] for n in ("128", "256", "512")]
    assert savings[2] > 6 and savings[2] / savings[1] == pytest.approx(2.0, rel=0.05)


def test_the_three_forms_are_one_layer() -> None:
    x = torch.randn(1, 12, 8, generator=torch.Generator().manual_seed(1))  # (B, T, D)
    torch.manual_seed(0)
    covering = claim.layer_forms(8, 2, window=24)  # reaches 12 either side: the whole sequence
    torch.manual_seed(0)
    narrow = claim.layer_forms(8, 2, window=4)
    with torch.no_grad():
        full = covering["full"](x).output
        torch.testing.assert_close(covering["full_reference"](x).output, full)
        torch.testing.assert_close(covering["local"](x).output, full)
        torch.testing.assert_close(narrow["full"](x).output, full)  # the same seed, same weights
        assert (narrow["local"](x).output - full).abs().max() > 1e-3  # a narrow window differs


def test_the_written_out_path_is_skipped_where_it_would_not_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(claim, "available_bytes", lambda device: 2 * 2 * 64 * 64 * 4)
    numbers = claim.measure({**TINY, "lengths": [16, 64]})
    assert numbers["reference_skipped_needing_bytes"] == {"64": 2 * 2 * 64 * 64 * 4}
    assert list(numbers["peak_bytes"]["full_reference"]) == ["16"]
    assert set(numbers["peak_bytes"]["local"]) == {"16", "64"}


def test_the_figure_is_a_png(tiny_numbers: dict) -> None:
    assert claim.figure(tiny_numbers).startswith(b"\x89PNG")
