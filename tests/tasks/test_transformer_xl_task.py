"""The language-model task with a Transformer-XL memory (model.memory_length > 0): training
reads contiguous segments and carries the memory from batch to batch, reset where an epoch
starts; evaluation reads the split as one stream with the memory carried; the config survives
the model directory, so ``seqlab.load`` and ``seqlab generate`` continue a trained text; a
relative-position model without memory trains and evaluates as the plain Transformer does
(random windows, windows read from their start); bad settings are one-line errors.

References for the expected values: the loss is the cross-entropy of every next token,
computed here from the model's own forward with the memory passed by hand (Dai et al. 2019,
sec. 3.2: each segment reads the memory the one before left); the evaluation's ids are made
here from the text's characters (id 0 unknown, then the training text's sorted characters).
One tiny model is trained for the module on a periodic text (tests/tasks/_lm_runs.py), about
3 s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from _cli_errors import refused
from _lm_runs import LINE, periodic_text, train_args, write_text
from safetensors.torch import load_file
from torch.testing import assert_close

import seqlab
from seqlab import cli
from seqlab.data.lm_batches import RandomWindows, StreamBatches
from seqlab.infer.sampling import SamplingSettings, stream_tokens
from seqlab.models.language_model import TransformerXLLM
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.lm.predictor import LanguageModelPredictor
from seqlab.tasks.lm.task import LanguageModelTask, TextSegment
from seqlab.tasks.runner import load_trained

CHARACTERS = 3000  # 2,700 train, 300 validation
CONTEXT, MEMORY = 16, 16
XL_SETTINGS = ["--set", "model.positions=relative", "--set", f"model.memory_length={MEMORY}",
               "--set", f"model.context={CONTEXT}"]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQLAB_DEBUG", raising=False)  # errors as users see them: one line


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_text(tmp_path_factory.mktemp("text") / "periodic.txt", periodic_text(CHARACTERS))


def _train(text_file: Path, out: Path, steps: int) -> list[str]:
    return [*train_args(text_file, out, steps=steps), *XL_SETTINGS]


@pytest.fixture(scope="module")
def run(text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "xl"
    assert cli.main(_train(text_file, out, 150)) == 0
    return out


@pytest.fixture(scope="module")
def trained(run: Path) -> tuple[LanguageModelTask, TransformerXLLM]:
    task, model, _ = load_trained(run)
    assert isinstance(task, LanguageModelTask) and isinstance(model, TransformerXLLM)
    return task, model


def _char_ids(text: str, training_text: str) -> list[int]:
    ranks = {char: rank + 1 for rank, char in enumerate(sorted(set(training_text)))}
    return [ranks.get(char, 0) for char in text]


def _summed(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return float(F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum"))


# ---- training ------------------------------------------------------------------------------
@pytest.mark.slow
def test_training_reads_contiguous_segments_and_carries_the_memory(trained):
    task, model = trained
    batches = task.text_data.training_batches()
    assert isinstance(batches, StreamBatches) and batches.bptt == CONTEXT and task.stateful
    first, second = task.train_batch(0), task.train_batch(1)
    assert first.reset and not second.reset and torch.equal(second.inputs[:, 0],
                                                            first.targets[:, -1])  # fmt: skip
    segments = len(batches)
    assert task.train_batch(segments).reset and not task.train_batch(segments + 1).reset
    with torch.no_grad():
        one = task.loss(model, first, state="ignored at an epoch's start")
        two = task.loss(model, second, state=one.state)
        restarted = task.loss(model, TextSegment(second.inputs, second.targets, reset=True),
                              state=one.state)  # fmt: skip
        first_logits, memory = model(first.inputs)
        second_logits, _ = model(second.inputs, memory)
        fresh_logits, _ = model(second.inputs)
    assert isinstance(one.state, torch.Tensor) and not one.state.requires_grad
    assert one.state.shape == (1, 16, MEMORY, 32)  # (L, B, M, D)
    assert_close(one.state, memory, rtol=0, atol=0)
    assert float(one.loss_sum) == pytest.approx(_summed(first_logits, first.targets), abs=1e-5)
    assert float(two.loss_sum) == pytest.approx(_summed(second_logits, second.targets), abs=1e-5)
    from_nothing = _summed(fresh_logits, second.targets)
    assert float(restarted.loss_sum) == pytest.approx(from_nothing, abs=1e-5)
    assert abs(from_nothing - float(two.loss_sum)) > 1e-3  # the memory is used


# ---- evaluation ----------------------------------------------------------------------------
@pytest.mark.slow
def test_evaluation_reads_the_split_as_one_stream_with_the_memory_carried(trained):
    task, model = trained
    text = periodic_text(CHARACTERS)
    ids = torch.tensor([_char_ids(text[2700:], text[:2700])])  # (1, N)
    total, memory = 0.0, None
    with torch.no_grad():
        for first in range(0, ids.shape[1] - 1, CONTEXT):
            window = ids[:, first : first + CONTEXT + 1]  # (1, T + 1)
            logits, memory = model(window[:, :-1], memory)
            total += _summed(logits.double(), window[:, 1:])
    loss = total / (ids.shape[1] - 1)
    metrics = task.evaluate(model, "val")
    assert metrics["loss"] == pytest.approx(loss, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert metrics["loss"] < 0.2 * math.log(model.vocab_size)  # it learned the period


# ---- the model directory and generation ----------------------------------------------------
@pytest.mark.slow
def test_the_config_round_trips_and_generation_continues_the_period(run, trained, capsys):
    task, model = trained
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["positions"] == "relative"
    assert config["model"]["memory_length"] == MEMORY
    assert task.run.model.memory_length == MEMORY and model.memory_length == MEMORY
    predictor = seqlab.load(run)
    assert isinstance(predictor, LanguageModelPredictor)
    assert isinstance(predictor.model, TransformerXLLM)
    # 100 new characters: past several segment boundaries, each rolled into the memory.
    assert predictor.generate(LINE[:10], temperature=0, max_new_tokens=100) == (LINE * 3)[10:110]
    capsys.readouterr()
    assert (
        cli.main(["generate", str(run), "--prompt", "Seq", "--greedy", "--max-tokens", "40"]) == 0
    )
    assert capsys.readouterr().out.strip() == (LINE * 2)[:43].strip()


@pytest.mark.slow
def test_cached_generation_equals_rereading_the_segment_after_its_memory(run):
    predictor = seqlab.load(run)
    model = predictor.model
    options = {"temperature": 1.5, "top_k": 10, "top_p": 0.95}
    cached = list(predictor.generate_ids("Seq", max_new_tokens=80, seed=5, **options))
    prompt = torch.tensor([_char_ids("Seq", LINE)])  # (1, P)
    with torch.no_grad():
        logits, state = model.start(prompt, use_cache=False)  # (1, V)
    recomputed = stream_tokens(model, state, logits, max_new_tokens=80,
                               settings=SamplingSettings(**options),
                               generator=torch.Generator().manual_seed(5))  # fmt: skip
    assert cached == list(recomputed)


@pytest.mark.slow
def test_resume_continues_to_the_uninterrupted_weights(run, text_file, tmp_path, recwarn):
    split = tmp_path / "split"
    # 100 steps of 16 rows: the memory carried at step 100 (saved in the checkpoint) matters.
    assert 100 % len(StreamBatches(torch.zeros(2700), batch_size=16, bptt=CONTEXT, seed=0))
    assert cli.main(_train(text_file, split, 100)) == 0
    resumed = ["train", "lm", "--resume", "--steps", "150", "--quiet", "--out", str(split)]
    assert cli.main(resumed) == 0
    assert not [w for w in recwarn if "resuming with changed settings" in str(w.message)]
    first, second = (
        load_file(str(split / "model.safetensors")),
        load_file(str(run / "model.safetensors")),
    )
    assert sorted(first) == sorted(second)
    for key in first:
        assert_close(first[key], second[key], rtol=0, atol=0, msg=key)


# ---- without memory, and bad settings ------------------------------------------------------
def test_relative_positions_without_memory_train_as_the_plain_transformer(text_file):
    run = build_run_config("lm", family="transformer",
                           overrides=[f"data.file={text_file}", "model.context=16",
                                      "model.positions=relative", "model.num_layers=1",
                                      "model.d_model=16", "model.num_heads=2"])  # fmt: skip
    task = LanguageModelTask(run)
    assert not task.stateful
    assert isinstance(task.text_data.training_batches(), RandomWindows)
    torch.manual_seed(0)
    model = task.build_model().eval()
    assert isinstance(model, TransformerXLLM) and model.memory_length == 0
    text = periodic_text(CHARACTERS)
    ids = _char_ids(text[2700:], text[:2700])
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, 16):  # windows of the context, each from its start
            window = torch.tensor([ids[start : start + 17]])  # (1, T + 1)
            total += _summed(model(window[:, :-1])[0].double(), window[:, 1:])
        metrics = task.evaluate(model, "val")
    assert metrics["loss"] == pytest.approx(total / (len(ids) - 1), rel=1e-5)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("model.memory_length=-1", "model.memory_length (-1) must be at least 0"),
        ("model.memory_length=8", "model.memory_length (8) needs model.positions 'relative'"),
    ],
)
def test_bad_memory_settings_are_one_line_errors(text_file, tmp_path, capsys, setting, message):
    error = refused(capsys, *train_args(text_file, tmp_path / "out", steps=1), "--set", setting)
    assert message in error
    assert not (tmp_path / "out").exists()
