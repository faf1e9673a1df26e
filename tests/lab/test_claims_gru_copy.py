"""seqlab claims 16 (gru-trains-faster) and 17 (fixed-state-capacity): the verdict rules on
synthetic numbers, and the measurements on tiny settings against hand counts of the models'
parameters, the copy task's definition and the equalities the numbers must satisfy."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest

from seqlab.lab.claims import fixed_state_capacity as capacity
from seqlab.lab.claims import gru_trains_faster as faster
from seqlab.lab.claims import verdicts
from seqlab.lab.compare import SOLVED

# Captured at import: other test modules point SEQLAB_DATA at temporary folders while they run.
_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()
_HAS_SST2 = bool(_REAL_DATA) and (Path(_REAL_DATA) / "sst2" / "train.tsv").is_file()
needs_sst2 = pytest.mark.skipif(
    not _HAS_SST2, reason="SST-2 not found: set SEQLAB_DATA to a folder with sst2/ (../shared/data)"
)


# --- claim 17: the verdict rule ------------------------------------------------------------------


def _copy(lstm: list[float], transformer: list[float], improving: tuple[int, ...] = ()) -> dict:
    lengths = [2, 4, 8]
    return {
        "string_lengths": lengths,
        "hidden_size": 32,
        "steps": 1000,
        "parameters": {"lstm": 9000, "transformer": 10000},
        "mean_accuracy": {
            "lstm": {str(n): a for n, a in zip(lengths, lstm, strict=True)},
            "transformer": {str(n): a for n, a in zip(lengths, transformer, strict=True)},
        },
        "still_improving": {
            family: {str(n): family == "lstm" and n in improving for n in lengths}
            for family in ("lstm", "transformer")
        },
    }


@pytest.mark.parametrize(
    ("numbers", "expected", "says"),
    [
        (_copy([0.99, 0.7, 0.4], [1.0, 1.0, 0.99]), verdicts.HOLDS, "copied up to S=2"),
        (_copy([0.99, 0.97, 0.4], [1.0] * 3, (8,)), verdicts.HOLDS_WITH_CAVEAT, "step budget"),
        (_copy([0.99, 0.7, 0.4], [1.0, 1.0, 0.6]), verdicts.DOES_NOT_HOLD, "Transformer did not"),
        (_copy([0.99, 0.99, 0.98], [1.0] * 3), verdicts.DOES_NOT_HOLD, "no limit"),
        (_copy([0.5, 0.3, 0.2], [1.0] * 3), verdicts.DOES_NOT_HOLD, "did not copy even"),
        (_copy([0.99, 0.5, 0.99], [1.0] * 3), verdicts.DOES_NOT_HOLD, "no fall"),
    ],
)
def test_fixed_state_rule(numbers: dict, expected: str, says: str) -> None:
    verdict, reason = capacity.fixed_state_capacity(numbers)
    assert verdict == expected
    assert says in reason


# --- claim 17: the measurement -------------------------------------------------------------------

TINY_COPY = {**capacity.CLAIM.quick, "hidden_size": 8, "string_lengths": [2, 3], "steps": 10,
             "eval_every": 10, "eval_examples": 32, "batch_size": 8, "seeds": 1, "jobs": 1,
             "device": "cpu"}  # fmt: skip


def _lstm_copy_parameters(hidden: int, alphabet: int = 8) -> int:
    """By hand: embedding of the alphabet plus blank and delimiter, one LSTM layer reading
    ``hidden`` inputs (4 blocks of W_ih, W_hh, two biases), a linear head to the alphabet."""
    return (
        (alphabet + 2) * hidden
        + 4 * (2 * hidden * hidden + 2 * hidden)
        + hidden * alphabet
        + alphabet
    )


def test_a_copy_run_has_its_string_length_and_asks_for_the_string_back() -> None:
    settings = capacity._compare_settings(TINY_COPY)
    run = capacity.CopyRun(settings, "lstm", {"hidden_size": 8}, string_length=3, seed=0)
    task = capacity.copy_task(run)
    assert task.length == 3 + TINY_COPY["distance"] + 3  # string, blanks + delimiter, answer
    batch = task.train_batch(0)
    assert batch.inputs.shape == (TINY_COPY["batch_size"], task.length)
    assert (batch.targets == batch.inputs[:, :3]).all()
    assert (batch.inputs[:, 3:] >= 8).all()  # blanks and the delimiter only after the string
    assert sum(p.numel() for p in task.build_model().parameters()) == _lstm_copy_parameters(8)


def test_copy_measurement_on_tiny_settings() -> None:
    numbers = capacity.measure(TINY_COPY)
    assert numbers["parameters"]["lstm"] == _lstm_copy_parameters(8) == 728
    # compare's size search: the Transformer closest to the LSTM's count (candidates 4 apart).
    assert 0.5 < numbers["parameters"]["transformer"] / numbers["parameters"]["lstm"] < 2.0
    assert numbers["bits_to_hold"] == {"2": 6.0, "3": 9.0}
    for family in ("lstm", "transformer"):
        for n in ("2", "3"):
            accuracies = numbers["accuracy"][family][n]
            assert len(accuracies) == 1 and 0.0 <= accuracies[0] <= 1.0
            assert numbers["mean_accuracy"][family][n] == statistics.fmean(accuracies)
            words = numbers["run_verdicts"][family][n]
            assert numbers["still_improving"][family][n] == any(
                word in capacity.STILL_IMPROVING for word in words
            )
            assert numbers["steps_taken"][family][n] == [10]
    assert numbers["solved_at"] == SOLVED["copy"]
    assert capacity.fixed_state_capacity(numbers)[0] in verdicts.VERDICTS
    assert capacity.figure(numbers).startswith(b"\x89PNG")


# --- claim 16: the verdict rule ------------------------------------------------------------------


def _faster(gru_ms: float, gru_gaps: tuple[float, float], noise_ms: float = 0.5) -> dict:
    return {
        "hardware": "a test CPU",
        "train_examples": 1000,
        "seeds": [0, 1, 2],
        "steps": 300,
        "step_seconds": {"lstm": 0.010, "gru": gru_ms / 1e3, "gru_equal_parameters": 0.011},
        "timing_noise": noise_ms / 1e3,
        "gaps": {
            "lstm": {"accuracy_gap": [0.30, 0.31, 0.32], "loss_gap": [1.0, 1.1, 1.2]},
            "gru": {
                "accuracy_gap": [gru_gaps[0] - 0.01, gru_gaps[0], gru_gaps[0] + 0.01],
                "loss_gap": [gru_gaps[1] - 0.1, gru_gaps[1], gru_gaps[1] + 0.1],
            },
        },
    }


@pytest.mark.parametrize(
    ("numbers", "expected", "says"),
    [
        (_faster(7.0, (0.2, 0.5)), verdicts.HOLDS_WITH_CAVEAT, "a test CPU"),
        (_faster(9.8, (0.2, 0.5)), verdicts.DOES_NOT_HOLD, "'trains faster' failed"),
        (_faster(7.0, (0.30, 0.5)), verdicts.DOES_NOT_HOLD, "'overfits less' failed"),
        (_faster(7.0, (0.2, 1.05)), verdicts.DOES_NOT_HOLD, "'overfits less' failed"),
        (_faster(11.0, (0.4, 2.0)), verdicts.DOES_NOT_HOLD, "'trains faster and overfits less'"),
        ({"missing_data": "SEQLAB_DATA is unset: set it"}, verdicts.NOT_YET_MEASURABLE, "unset"),
    ],
)
def test_gru_trains_faster_rule(numbers: dict, expected: str, says: str) -> None:
    verdict, reason = faster.gru_trains_faster(numbers)
    assert verdict == expected
    assert says in reason


def test_the_seeds_spread_is_their_standard_deviation_and_zero_for_one_seed() -> None:
    assert faster._spread([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert faster._spread([4.0]) == 0.0


# --- claim 16: the measurement -------------------------------------------------------------------


def test_without_seqlab_data_the_claim_is_not_yet_measurable_and_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SEQLAB_DATA", raising=False)
    numbers = faster.measure({**faster.CLAIM.quick, "device": "cpu"})
    assert set(numbers) == {"missing_data"}
    assert "SEQLAB_DATA is unset" in numbers["missing_data"]
    assert faster.gru_trains_faster(numbers)[0] == verdicts.NOT_YET_MEASURABLE
    assert faster.figure(numbers).startswith(b"\x89PNG")
    # Set, but without SST-2 in it (and nothing in the cache): the reason names the folder.
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path))
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    reason = faster.missing_data()
    assert reason is not None and "\n" not in reason and str(tmp_path) in reason


@needs_sst2
def test_the_subset_is_a_fixed_random_sample_of_sst2_training_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEQLAB_DATA", _REAL_DATA)
    header, *rows = (Path(_REAL_DATA) / "sst2" / "train.tsv").read_text().splitlines()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = faster.write_subset(50, 0, tmp_path / "a").read_text().splitlines()
    again = faster.write_subset(50, 0, tmp_path / "b").read_text().splitlines()
    other = faster.write_subset(50, 1, tmp_path / "b").read_text().splitlines()
    assert first == again and first != other
    assert first[0] == header and len(first) == 51
    assert set(first[1:]) <= set(rows) and len(set(first[1:])) == 50


def _classifier_parameters(vocab: int, embed: int, hidden: int, blocks: int) -> int:
    """By hand: embedding, a bidirectional layer (2 directions x blocks x (W_ih, W_hh, two
    biases)), and the head: Linear(2H, 2H) -> tanh -> Linear(2H, 2 classes)."""
    recurrent = 2 * blocks * (hidden * embed + hidden * hidden + 2 * hidden)
    head = (2 * hidden) * (2 * hidden) + 2 * hidden + (2 * hidden) * 2 + 2
    return vocab * embed + recurrent + head


@needs_sst2
def test_sst2_measurement_on_tiny_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQLAB_DATA", _REAL_DATA)
    tiny = {**faster.CLAIM.quick, "train_examples": 64, "vocab_size": 200, "embed_dim": 8,
            "hidden_size": 8, "steps": 10, "batch_size": 16, "seeds": 1, "jobs": 1,
            "timing_rounds": 3, "timing_repeats": 2, "timing_warmup": 1}  # fmt: skip
    tiny["device"] = "cpu"
    numbers = faster.measure(tiny)
    vocab = numbers["vocabulary"]
    counts = numbers["parameters"]
    assert counts["lstm"] == _classifier_parameters(vocab, 8, 8, blocks=4)
    assert counts["gru"] == _classifier_parameters(vocab, 8, 8, blocks=3)
    matched = numbers["hidden_size"]["gru_equal_parameters"]
    assert counts["gru_equal_parameters"] == _classifier_parameters(vocab, 8, matched, blocks=3)
    distance = {
        w: abs(_classifier_parameters(vocab, 8, w, 3) - counts["lstm"]) for w in range(8, 17)
    }
    assert distance[matched] == min(distance.values())
    rounds = numbers["round_seconds"]
    for name, seconds in numbers["step_seconds"].items():
        assert seconds == statistics.median(rounds[name])
    paired = [lstm - gru for lstm, gru in zip(rounds["lstm"], rounds["gru"], strict=True)]
    assert numbers["timing_noise"] == pytest.approx(statistics.stdev(paired))
    for family in ("lstm", "gru"):
        (run,) = numbers["runs"][family]
        assert run["parameters"] == counts[family]
        assert numbers["gaps"][family]["accuracy_gap"] == [
            run["train_accuracy"] - run["val_accuracy"]
        ]
        assert numbers["gaps"][family]["loss_gap"] == [run["val_loss"] - run["train_loss"]]
    assert faster.gru_trains_faster(numbers)[0] in verdicts.VERDICTS
    assert faster.figure(numbers).startswith(b"\x89PNG")
