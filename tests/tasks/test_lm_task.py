"""The language-model task wired end to end (seqlab.tasks.lm.task, .data, .predictor): its loss
and the state truncated BPTT carries, its evaluation, how a text is split and read, training
from the command line, --resume, and ``seqlab.load(DIR).generate``.

References for the expected values:
- the loss: the cross-entropy of every next token, -log softmax(logits)[target], written out
  here in float64 and summed over all B x T targets (convention 7: a sum and its count);
- truncated BPTT (Williams and Peng 1990): reading two consecutive segments with the state
  carried gives the logits of one forward over both; the graph is cut between them
  (seqlab.train.detach_state), so the second segment's loss has no gradient with respect to
  anything only the first one computed;
- evaluation: the mean cross-entropy over every target ``ids[1:]`` of the validation text, the
  ids made here from the text's characters (id 0 unknown, then the training text's sorted
  characters, nanoGPT's order shifted by one); a Transformer reads non-overlapping windows of
  its context, each from its start; a recurrent model reads the whole text as one stream.
  perplexity = exp(loss); bits per character = summed nats / ln 2 / characters predicted;
- the split: nanoGPT's ``data[:int(n * 0.9)]`` and ``data[int(n * 0.9):]``;
- greedy generation: a loop written here that runs the whole model on the window (the
  Transformer's context policy: when a token would overflow the context, the window restarts
  from its last context // 2 tokens) or the whole prefix (recurrent, from the zero state), and
  takes the argmax.

Three tiny models are trained once for the module on a periodic text (tests/tasks/_lm_runs.py):
a Transformer and an LSTM over characters (300 steps each, about 2 s and 1 s), and a Transformer
over byte-level BPE (50 steps).
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from _cli_errors import refused as _one_line_error
from _lm_runs import LINE, PERIOD, periodic_text, train_args, write_text
from safetensors.torch import load_file
from torch.testing import assert_close

import seqlab
from seqlab import cli
from seqlab.data.lm_vocabulary import BPEVocabulary, CharVocabulary
from seqlab.errors import SeqlabError
from seqlab.infer.sampling import SamplingSettings, stream_tokens
from seqlab.models.language_model import RecurrentLM, TransformerLM
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.lm.predictor import LanguageModelPredictor
from seqlab.tasks.lm.task import LanguageModelTask, TextSegment
from seqlab.tasks.runner import initial_model, load_trained
from seqlab.train import detach_state

CHARACTERS = 3000  # 2,700 train, 300 validation
STEPS = 300
FAMILIES = ("transformer", "lstm")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_text(tmp_path_factory.mktemp("text") / "periodic.txt", periodic_text(CHARACTERS))


@pytest.fixture(scope="module")
def runs(text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    for family in FAMILIES:
        assert cli.main(train_args(text_file, folder / family, model=family, steps=STEPS)) == 0
    return {family: folder / family for family in FAMILIES}


@pytest.fixture(scope="module")
def trained(runs: dict[str, Path]) -> dict[str, tuple[LanguageModelTask, torch.nn.Module]]:
    loaded = {}
    for family, run in runs.items():
        task, model, _ = load_trained(run)
        assert isinstance(task, LanguageModelTask)
        loaded[family] = (task, model)
    return loaded


@pytest.fixture(scope="module")
def bpe_run(text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "bpe"
    args = [*train_args(text_file, out, steps=50), "--vocabulary", "bpe",
            "--set", "data.vocab_size=300"]  # fmt: skip
    assert cli.main(args) == 0
    return out


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQLAB_DEBUG", raising=False)  # errors as users see them: one line


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))


def _task(text: Path, *settings: str, family: str = "transformer") -> LanguageModelTask:
    """An lm task over the file ``text`` with a context (or bptt) of 32 characters."""
    window = "model.context=32" if family == "transformer" else "data.bptt=32"
    run = build_run_config("lm", family=family, overrides=[f"data.file={text}", window, *settings])
    return LanguageModelTask(run)


def _char_ids(text: str, training_text: str) -> list[int]:
    """Id 0 for a character the training text lacks, else 1 + its rank among the training
    text's distinct characters in code-point order."""
    ranks = {char: rank + 1 for rank, char in enumerate(sorted(set(training_text)))}
    return [ranks.get(char, 0) for char in text]


def _nats(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(target) at every position, float64: logits (..., V), targets (...)."""
    log_probs = torch.log_softmax(logits.double(), dim=-1)  # (..., V)
    return -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (...)


@torch.no_grad()
def _evaluation_nats(model: torch.nn.Module, ids: list[int]) -> float:
    """Summed nats over every target ``ids[1:]``: a Transformer's non-overlapping windows of its
    context, each read from its start; a recurrent model's one forward over the whole text."""
    if isinstance(model, RecurrentLM):
        stream = torch.tensor([ids])  # (1, N)
        logits, _ = model(stream[:, :-1])  # (1, N - 1, V)
        return float(_nats(logits, stream[:, 1:]).sum())
    assert isinstance(model, TransformerLM)
    total = 0.0
    for start in range(0, len(ids) - 1, model.context):
        window = torch.tensor([ids[start : start + model.context + 1]])  # (1, T + 1)
        total += float(_nats(model(window[:, :-1]), window[:, 1:]).sum())  # (1, T, V) logits
    return total


@torch.no_grad()
def _greedy_reference(model: torch.nn.Module, prompt_ids: list[int], count: int) -> list[int]:
    """The argmax fed back ``count`` times, the whole window (or prefix) re-read every step."""
    window, new = list(prompt_ids), []
    if isinstance(model, TransformerLM):
        window = window[-model.context :]
    for _ in range(count):
        if isinstance(model, TransformerLM):
            logits = model(torch.tensor([window]))  # (1, w, V)
        else:
            logits, _ = model(torch.tensor([window]))  # (1, w, V) from the zero state
        token = int(logits[0, -1].argmax())
        new.append(token)
        window.append(token)
        if isinstance(model, TransformerLM) and len(window) > model.context:
            window = window[-(model.context // 2) :]
    return new


# ---- the loss ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_the_loss_is_cross_entropy_summed_over_every_target(trained, text_file, family):
    task, model = trained[family]
    batch = task.train_batch(0)
    assert isinstance(batch, TextSegment) and batch.inputs.shape == batch.targets.shape
    rows, length = batch.targets.shape
    assert rows == 16 and length == (32 if family == "transformer" else 24)
    # Every row is a piece of the training text, the targets one character later.
    training_text = periodic_text(CHARACTERS)[:2700]
    training = "".join(map(chr, _char_ids(training_text, training_text)))  # one char an id
    for inputs, targets in zip(batch.inputs.tolist(), batch.targets.tolist(), strict=True):
        assert "".join(map(chr, [inputs[0], *targets])) in training
    with torch.no_grad():
        step = task.loss(model, batch)
        logits = model(batch.inputs) if family == "transformer" else model(batch.inputs)[0]
    expected = _nats(logits, batch.targets).sum()  # (B, T) nats summed
    assert step.count == step.tokens == rows * length
    assert float(step.loss_sum) == pytest.approx(float(expected), rel=1e-5, abs=1e-5)
    assert float(step.loss_sum) == pytest.approx(
        float(F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), reduction="sum")),
        rel=1e-6,
    )


@pytest.mark.slow
def test_the_recurrent_state_is_carried_from_segment_to_segment(trained):
    task, model = trained["lstm"]
    first, second = task.train_batch(0), task.train_batch(1)
    segments = len(task.text_data.training_batches())
    assert first.reset and not second.reset and segments > 2
    assert task.train_batch(segments).reset and not task.train_batch(segments + 1).reset
    with torch.no_grad():
        one = task.loss(model, first)
        two = task.loss(model, second, state=one.state)
        both = torch.cat([first.inputs, second.inputs], dim=1)  # (B, T1 + T2)
        logits, _ = model(both)  # (B, T1 + T2, V)
        fresh = task.loss(model, second)
        restarted = task.loss(model, TextSegment(second.inputs, second.targets, reset=True),
                              state=one.state)  # fmt: skip
        logits_from_zero, _ = model(second.inputs)  # (B, T2, V)
    split = first.inputs.shape[1]
    # The loss in the task's float32, so that only the carried state can differ.
    assert float(one.loss_sum) == pytest.approx(_summed(logits[:, :split], first), abs=1e-6)
    assert float(two.loss_sum) == pytest.approx(_summed(logits[:, split:], second), abs=1e-6)
    # Without a state the second segment is read from zeros; reset=True ignores the state
    # passed, as the first segment of an epoch does: both differ from the carried reading.
    from_zero = _summed(logits_from_zero, second)
    assert float(fresh.loss_sum) == pytest.approx(from_zero, abs=1e-6)
    assert float(restarted.loss_sum) == pytest.approx(from_zero, abs=1e-6)
    assert abs(from_zero - float(two.loss_sum)) > 1e-3 * from_zero


def _summed(logits: torch.Tensor, segment: TextSegment) -> float:
    """Summed float32 cross-entropy of logits (B, T, V) against the segment's targets."""
    flat = logits.flatten(0, 1)  # (B * T, V)
    return float(F.cross_entropy(flat, segment.targets.flatten(), reduction="sum"))


@pytest.mark.slow
def test_no_gradient_crosses_the_detached_state(trained):
    task, model = trained["lstm"]
    first, second = task.train_batch(0), task.train_batch(1)
    read: list[torch.Tensor] = []
    # The embedding's output of the first segment: a tensor only that segment computes.
    hook = model.embedding.register_forward_hook(lambda _m, _i, output: read.append(output))
    try:
        one = task.loss(model, first)
        embedded_first = read[0]  # (B, T1, embed_dim)
        carried = task.loss(model, second, state=one.state)
        (through,) = torch.autograd.grad(carried.loss_sum, embedded_first, retain_graph=True)
        cut = task.loss(model, second, state=detach_state(one.state))
        (detached,) = torch.autograd.grad(cut.loss_sum, embedded_first, allow_unused=True)
    finally:
        hook.remove()
    assert float(through.abs().sum()) > 0  # the state does link the segments
    assert detached is None  # cut: nothing flows back into the first segment
    assert float(cut.loss_sum.detach()) == float(carried.loss_sum.detach())  # values kept


# ---- evaluation ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_evaluation_is_the_mean_cross_entropy_of_every_validation_target(trained, family):
    task, model = trained[family]
    text = periodic_text(CHARACTERS)
    ids = _char_ids(text[2700:], text[:2700])
    total = _evaluation_nats(model, ids)
    loss = total / (len(ids) - 1)
    metrics = task.evaluate(model, "val")
    assert metrics["loss"] == pytest.approx(loss, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert metrics["bits_per_char"] == pytest.approx(loss / math.log(2), rel=1e-5)
    assert task.evaluate(model, "test") == metrics  # test is the validation text


@pytest.mark.slow
def test_bits_per_character_of_bpe_count_the_normalised_characters_predicted(bpe_run, text_file):
    task, model, _ = load_trained(bpe_run)
    assert isinstance(task, LanguageModelTask)
    vocabulary = task.text_data.vocabulary
    assert isinstance(vocabulary, BPEVocabulary) and vocabulary.vocab_size <= 300
    val = periodic_text(CHARACTERS)[2700:]
    normalised = unicodedata.normalize("NFKC", val).strip()
    assert vocabulary.normalize(val) == normalised
    ids = vocabulary.encode(val)
    # The byte symbols of the ids spell the normalised text after one added space (ASCII here:
    # one symbol a character, Ġ for a space and Ċ for a line break).
    symbols = [str(vocabulary.tokenizer.tokenizer.id_to_token(token)) for token in ids]
    spelled = (" " + normalised).replace(" ", "Ġ").replace("\n", "Ċ")
    assert "".join(symbols) == spelled and len(ids) < len(normalised) / 2
    # The first id is never a target: its characters are not predicted.
    characters = len(spelled) - len(symbols[0])
    total = _evaluation_nats(model, ids)
    metrics = task.evaluate(model, "val")
    assert metrics["loss"] == pytest.approx(total / (len(ids) - 1), rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(total / (len(ids) - 1)), rel=1e-5)
    assert metrics["bits_per_char"] == pytest.approx(total / math.log(2) / characters, rel=1e-5)
    saved = _metrics(bpe_run)["metrics"]
    assert saved["vocabulary"] == {"kind": "bpe", "size": vocabulary.vocab_size}
    assert saved["tokens"] == len(ids)


# ---- the split and the vocabulary ----------------------------------------------------------


def test_the_split_is_the_first_ninety_percent_and_the_rest(tmp_path):
    text = periodic_text(2997)
    task = _task(write_text(tmp_path / "text.txt", text))
    boundary = int(2997 * 0.9)
    assert boundary == 2697
    data = task.text_data
    assert data.text("train") == text[:2697] and data.text("val") == text[2697:]
    assert data.text("test") == text[2697:]
    assert task.data_notes() == []
    assert data.report()["characters"] == {"train": 2697, "val": 300}
    with pytest.raises(SeqlabError, match="lm has splits train, val and test, not 'dev'"):
        data.text("dev")


def test_a_validation_file_leaves_the_whole_text_to_training(tmp_path):
    text, val = periodic_text(1000), periodic_text(200, line=LINE[::-1])
    task = _task(write_text(tmp_path / "text.txt", text),
                 f"data.val_file={write_text(tmp_path / 'val.txt', val)}")  # fmt: skip
    assert task.text_data.text("train") == text
    assert task.text_data.text("val") == task.text_data.text("test") == val


def test_the_vocabulary_is_the_training_characters_and_an_unknown_symbol(tmp_path):
    text = periodic_text(2700) + "XYZ!" * 10 + periodic_text(260)  # the last 300 validate
    task = _task(write_text(tmp_path / "text.txt", text))
    training = text[:2700]
    vocabulary = task.text_data.vocabulary
    assert isinstance(vocabulary, CharVocabulary)
    assert vocabulary.characters == tuple(sorted(set(LINE)))
    assert vocabulary.vocab_size == len(set(LINE)) + 1
    assert vocabulary.decode(range(vocabulary.vocab_size)) == "\ufffd" + "".join(sorted(set(LINE)))
    # X, Y, Z and ! are in the validation text only: 40 characters read as the unknown id.
    notes = task.data_notes()
    assert notes == [
        f"{tmp_path / 'text.txt'}: 40 character(s) of the val text are not in the training "
        "text; the model reads them as its unknown symbol (U+FFFD)"
    ]
    assert task.text_data.ids("val").tolist() == _char_ids(text[2700:], training)
    assert task.text_data.ids("val")[:40].tolist() == [0] * 40
    assert task.text_data.report()["unknown_characters"] == {"val": 40}


def test_unseen_characters_of_a_validation_file_are_counted_in_its_name(tmp_path):
    text = periodic_text(1000)
    val = write_text(tmp_path / "val.txt", "Éé" + periodic_text(100) + "Ω")
    task = _task(write_text(tmp_path / "text.txt", text), f"data.val_file={val}", family="lstm")
    notes = task.data_notes()
    assert len(notes) == 1 and notes[0].startswith(f"{val}: 3 character(s) of the val text")
    ids = task.text_data.ids("val").tolist()
    assert ids[:2] == [0, 0] and ids[-1] == 0 and 0 not in ids[2:-1]


def test_a_text_too_short_for_one_window_a_split_is_refused(tmp_path, capsys):
    # The default context 256 needs 257 characters a split: 1,000 characters give 100 to val.
    short = write_text(tmp_path / "short.txt", periodic_text(1000))
    out = tmp_path / "out"
    err = _one_line_error(capsys, "train", "lm", "--data", str(short), "--quiet",
                          "--out", str(out))  # fmt: skip
    assert "900 training and 100 validation characters" in err
    assert "at least 257 (one training window needs window + 1 = 257 characters a split)" in err
    # Too short before any split: the file itself is named, with both numbers.
    tiny = write_text(tmp_path / "tiny.txt", "abc\n" * 10)
    err = _one_line_error(capsys, "train", "lm", "--data", str(tiny), "--model", "lstm",
                          "--set", "data.bptt=64", "--quiet", "--out", str(out))  # fmt: skip
    assert f"{tiny} has 40 characters, fewer than the 65 needed" in err
    assert not out.exists()  # refused before anything was written


def test_bytes_that_are_not_utf8_are_refused_with_file_and_offset(tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(periodic_text(600).encode() + "café\n".encode("latin-1") + b"more\n")
    out = tmp_path / "out"
    err = _one_line_error(capsys, "train", "lm", "--data", str(bad), "--quiet",
                          "--out", str(out))  # fmt: skip
    line = periodic_text(600).count("\n") + 1
    assert f"{bad}:{line}: byte 0xe9 at byte offset 603 is not UTF-8" in err
    assert not out.exists()


# ---- end to end ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_the_model_learns_the_text_far_below_the_uniform_guess(trained, runs, family):
    task, _ = trained[family]
    record = _metrics(runs[family])
    assert record["split"] == "test" and record["training"]["steps"] == STEPS
    metrics = record["metrics"]
    uniform = math.log(task.text_data.vocabulary.vocab_size)
    assert task.text_data.vocabulary.vocab_size == len(set(LINE)) + 1
    before = task.evaluate(initial_model(task).eval(), "test")
    assert before["loss"] > 0.9 * uniform
    assert metrics["loss"] < 0.1 * uniform
    assert metrics["tokens"] == 300 and metrics["data"]["characters"] == {"train": 2700, "val": 300}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_eval_reproduces_the_saved_test_metrics(trained, runs, family, capsys):
    saved = _metrics(runs[family])["metrics"]
    capsys.readouterr()
    assert cli.main(["eval", str(runs[family]), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in printed.items() if k != "data"} == {
        k: v for k, v in saved.items() if k != "data"
    }
    assert printed["data"]["tokens"]["val"] == saved["data"]["tokens"]["val"] == 300
    task, model = trained[family]
    evaluated = task.evaluate(model, "test")
    for name in ("loss", "perplexity", "bits_per_char"):
        assert evaluated[name] == saved[name], name


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_generation_is_the_argmax_fed_back_and_continues_the_period(trained, runs, family):
    task, model = trained[family]
    predictor = seqlab.load(runs[family])
    assert isinstance(predictor, LanguageModelPredictor)
    prompt = LINE[:10]
    # 100 new characters: past the Transformer's context of 32, so its window restarts.
    expected = _greedy_reference(model, _char_ids(prompt, LINE), 100)
    text = predictor.generate(prompt, temperature=0, max_new_tokens=100)
    assert text == task.text_data.vocabulary.decode(expected)
    assert text == (LINE * 3)[10:110]  # the memorised period, exactly
    # An empty prompt starts from a line break, the start of a line.
    assert predictor.generate("", temperature=0, max_new_tokens=PERIOD) == LINE
    # A prompt longer than the context: the Transformer keeps its last 32 characters.
    long_prompt = periodic_text(150)
    continued = predictor.generate(long_prompt, temperature=0, max_new_tokens=60)
    assert continued == (LINE * 5)[150:210]
    if family == "transformer":
        assert continued == predictor.generate(long_prompt[-32:], temperature=0, max_new_tokens=60)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_a_seed_repeats_the_sample_and_streaming_joins_to_it(runs, family):
    predictor = seqlab.load(runs[family])
    # A high temperature flattens the memorised distribution, so seeds can disagree.
    options = {"max_new_tokens": 80, "temperature": 3.0}
    samples = {seed: predictor.generate("Seq", seed=seed, **options) for seed in range(4)}
    assert all(len(sample) == 80 for sample in samples.values())
    assert predictor.generate("Seq", seed=2, **options) == samples[2]
    assert len(set(samples.values())) > 1
    pieces = list(predictor.generate("Seq", stream=True, seed=2, **options))
    assert "".join(pieces) == samples[2] and all(pieces) and len(pieces) > 40
    ids = list(predictor.generate_ids("Seq", seed=2, **options))
    assert predictor.decode(ids) == samples[2]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_cached_generation_equals_recomputing_the_prefix(runs, family):
    predictor = seqlab.load(runs[family])
    model = predictor.model
    settings = SamplingSettings(temperature=1.5, top_k=10, top_p=0.95)
    cached = list(
        predictor.generate_ids("Seq", max_new_tokens=100, seed=5, temperature=1.5, top_k=10,
                               top_p=0.95)
    )  # fmt: skip
    generator = torch.Generator().manual_seed(5)
    prompt = torch.tensor([_char_ids("Seq", LINE)])  # (1, P)
    with torch.no_grad():
        # Without the cache: the Transformer re-reads its window, the recurrent model its whole
        # prefix from the zero state, at every step.
        logits, state = model.start(prompt, use_cache=False)  # (1, V)
    recomputed = list(
        stream_tokens(model, state, logits, max_new_tokens=100, settings=settings,
                      generator=generator)
    )  # fmt: skip
    assert cached == recomputed


# ---- --resume ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_resume_continues_to_the_uninterrupted_weights(
    trained, runs, text_file, family, tmp_path, recwarn
):
    task, _ = trained[family]
    if family == "lstm":
        # Step 201 is in the middle of an epoch, so the carried state (from the checkpoint)
        # matters: a state started afresh would give other weights.
        assert 200 % len(task.text_data.training_batches()) != 0
    split = tmp_path / "split"
    assert cli.main(train_args(text_file, split, model=family, steps=200)) == 0
    resumed = ["train", "lm", "--resume", "--steps", str(STEPS), "--quiet", "--out", str(split)]
    assert cli.main(resumed) == 0
    assert not [w for w in recwarn if "resuming with changed settings" in str(w.message)]
    for name in ("model.safetensors", "checkpoints/last/model.safetensors"):
        first, second = load_file(str(split / name)), load_file(str(runs[family] / name))
        assert sorted(first) == sorted(second)
        for key in first:
            assert_close(first[key], second[key], rtol=0, atol=0, msg=f"{name}: {key}")
    assert _metrics(split)["metrics"] == _metrics(runs[family])["metrics"]
    events = [json.loads(line) for line in (split / "log.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 200} in events
