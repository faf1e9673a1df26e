"""`seqlab generate`, end to end: the prompt and its continuation, --seed, --greedy and
--temperature 0, --top-k 1, --json, the values and directories it refuses; and the language
model's face in `seqlab train` (the note on unseen characters) and `seqlab eval --data`.

A tiny Transformer and a tiny LSTM are trained once for the module on the periodic text of
_lm_runs (about 3 s together). The commands run in-process through ``seqlab.cli.main`` (its
return value is the exit code), and what they print is checked against the same model used
directly through ``seqlab.load``, and greedy text against the memorised period.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from _cli_errors import refused_with_output as _one_line_error
from _lm_runs import LINE, PERIOD, periodic_text, train_args, write_text

import seqlab
from seqlab import cli
from seqlab.tasks.lm.predictor import LanguageModelPredictor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"
FAMILIES = ("transformer", "lstm")
PROMPT = "Seqlab mo"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lm")
    text = write_text(folder / "periodic.txt", periodic_text(3000))
    for family in FAMILIES:
        assert cli.main(train_args(text, folder / family, model=family)) == 0
    return {family: folder / family for family in FAMILIES}


@pytest.fixture(scope="module")
def predictors(runs: dict[str, Path]) -> dict[str, LanguageModelPredictor]:
    return {family: seqlab.load(run) for family, run in runs.items()}


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQLAB_DEBUG", raising=False)  # errors as users see them: one line


def _generate(capsys: pytest.CaptureFixture[str], run: Path, *args: str) -> str:
    """What `seqlab generate RUN ARGS` prints on standard output (it must succeed)."""
    capsys.readouterr()
    assert cli.main(["generate", str(run), *args]) == 0
    return capsys.readouterr().out


# ---- seqlab generate -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_generate_prints_the_prompt_then_the_predictors_continuation(
    runs, predictors, family, capsys
):
    printed = _generate(capsys, runs[family], "--prompt", PROMPT, "--max-tokens", "40",
                        "--temperature", "1.5", "--seed", "7")  # fmt: skip
    expected = predictors[family].generate(PROMPT, max_new_tokens=40, temperature=1.5, seed=7)
    assert len(expected) == 40
    assert printed == PROMPT + expected + "\n"
    # Top-k and top-p reach the sampler as the predictor's options do.
    printed = _generate(capsys, runs[family], "--prompt", PROMPT, "--max-tokens", "40",
                        "--temperature", "2", "--top-k", "3", "--top-p", "0.9",
                        "--seed", "11")  # fmt: skip
    expected = predictors[family].generate(
        PROMPT, max_new_tokens=40, temperature=2.0, top_k=3, top_p=0.9, seed=11
    )
    assert printed == PROMPT + expected + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_is_temperature_zero_and_continues_the_memorised_period(runs, family, capsys):
    run = runs[family]
    greedy = _generate(capsys, run, "--prompt", PROMPT, "--max-tokens", "90", "--greedy")
    assert greedy == (LINE * 3)[: len(PROMPT) + 90] + "\n"
    # The seed and the temperature flag do not matter once --greedy is given.
    assert _generate(capsys, run, "--prompt", PROMPT, "--max-tokens", "90",
                     "--temperature", "0") == greedy  # fmt: skip
    assert _generate(capsys, run, "--prompt", PROMPT, "--max-tokens", "90", "--greedy",
                     "--temperature", "5", "--seed", "3") == greedy  # fmt: skip
    # Top-k 1 keeps only the most likely token: greedy at any temperature and seed.
    for temperature, seed in (("1", "1"), ("4", "2")):
        assert _generate(capsys, run, "--prompt", PROMPT, "--max-tokens", "90", "--top-k", "1",
                         "--temperature", temperature, "--seed", seed) == greedy  # fmt: skip


@pytest.mark.slow
def test_the_default_prompt_starts_a_fresh_line(runs, capsys):
    # No --prompt: the model starts after a line break, at the start of the memorised line.
    assert _generate(capsys, runs["lstm"], "--max-tokens", str(PERIOD), "--greedy") == LINE + "\n"


@pytest.mark.slow
def test_json_prints_the_prompt_the_text_and_the_number_of_new_tokens(runs, predictors, capsys):
    printed = _generate(capsys, runs["transformer"], "--prompt", PROMPT, "--max-tokens", "25",
                        "--temperature", "1.5", "--seed", "4", "--json")  # fmt: skip
    record = json.loads(printed)
    expected = predictors["transformer"].generate(
        PROMPT, max_new_tokens=25, temperature=1.5, seed=4
    )
    assert record == {"prompt": PROMPT, "text": expected, "tokens": 25}


BAD_VALUES = [
    (("--temperature", "-1"), "temperature must be a finite number >= 0 (0: greedy), got -1.0"),
    (("--top-p", "0"), "top_p must be a number in (0, 1] or None (no top-p filter), got 0.0"),
    (("--top-k", "0"), "top_k must be an int >= 1 or None (no top-k filter), got 0"),
    (("--max-tokens", "0"), "--max-tokens (0) must be at least 1"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("flags", "message"), BAD_VALUES)
def test_a_bad_sampling_value_is_a_one_line_error(runs, flags, message, capsys):
    err, _ = _one_line_error(capsys, "generate", str(runs["transformer"]), "--prompt", PROMPT,
                             *flags)  # fmt: skip
    assert message in err
    err, _ = _one_line_error(capsys, "generate", str(runs["transformer"]), "--prompt", PROMPT,
                             "--json", *flags)  # fmt: skip
    assert message in err


@pytest.mark.slow
@pytest.mark.parametrize(("flags", "message"), BAD_VALUES[:3])
def test_a_refused_generation_prints_nothing(runs, flags, message, capsys):
    _, out = _one_line_error(capsys, "generate", str(runs["transformer"]), "--prompt", PROMPT,
                             *flags)  # fmt: skip
    assert out == ""


def test_a_directory_of_another_task_is_refused_naming_it(capsys):
    sentiment = FIXTURES / "sentiment"
    err, out = _one_line_error(capsys, "generate", str(sentiment), "--prompt", "hi")
    assert f"{sentiment} holds a 'sentiment' model, which does not generate text" in err
    assert "seqlab train lm" in err and out == ""


def test_a_missing_directory_is_refused(tmp_path, capsys):
    missing = tmp_path / "nothing"
    err, out = _one_line_error(capsys, "generate", str(missing), "--prompt", "hi")
    assert f"model directory '{missing}' does not exist" in err and out == ""


# ---- the lm task in seqlab train and seqlab eval -------------------------------------------


def test_train_says_how_many_validation_characters_are_unknown(tmp_path, capsys):
    text = write_text(tmp_path / "text.txt", periodic_text(1200))
    val = write_text(tmp_path / "val.txt", "ÄÖ" + periodic_text(200) + "ß")
    out = tmp_path / "run"
    args = [*train_args(text, out, model="lstm", steps=5), "--val-data", str(val)]
    capsys.readouterr()
    assert cli.main(args) == 0
    err = capsys.readouterr().err  # said even with --quiet
    assert (
        f"{val}: 3 character(s) of the val text are not in the training text; the model reads "
        "them as its unknown symbol (U+FFFD)"
    ) in err.replace("\n", " ")
    saved = json.loads((out / "metrics.json").read_text())["metrics"]
    assert saved["data"]["unknown_characters"] == {"val": 3}
    assert saved["data"]["characters"] == {"train": 1200, "val": 203}


@pytest.mark.slow
def test_eval_data_scores_another_text_with_the_trained_vocabulary(
    runs, predictors, tmp_path, capsys
):
    # A text the model never saw: the line backwards, and one character it does not know.
    other = write_text(tmp_path / "other.txt", "#" + periodic_text(200, line=LINE[::-1]))
    capsys.readouterr()
    assert cli.main(["eval", str(runs["lstm"]), "--data", str(other), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    vocabulary = predictors["lstm"].vocabulary
    ids = torch.tensor([vocabulary.encode("#" + periodic_text(200, line=LINE[::-1]))])  # (1, N)
    assert int(ids[0, 0]) == 0  # "#": the unknown id
    with torch.no_grad():
        logits, _ = predictors["lstm"].model(ids[:, :-1])  # (1, N - 1, V) one stream
    log_probs = torch.log_softmax(logits.double(), dim=-1)  # (1, N - 1, V)
    total = -float(log_probs.gather(-1, ids[:, 1:].unsqueeze(-1)).sum())
    loss = total / 200
    assert printed["loss"] == pytest.approx(loss, rel=1e-5)
    assert printed["bits_per_char"] == pytest.approx(loss / math.log(2), rel=1e-5)
    assert printed["tokens"] == 201 and printed["data"]["unknown_characters"] == {"val": 1}
    # Backwards, the memorised text is far from what the model predicts.
    saved = json.loads((runs["lstm"] / "metrics.json").read_text())["metrics"]
    assert printed["loss"] > 10 * saved["loss"]
    err, _ = _one_line_error(capsys, "eval", str(runs["lstm"]), "--data", str(other),
                             "--split", "train")  # fmt: skip
    assert "--data replaces the val or test text of a language model, not train" in err
