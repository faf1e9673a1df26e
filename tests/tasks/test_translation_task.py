"""The translation task wired end to end (seqlab.tasks.translation.task, .predictor, .decode):
its loss, its evaluation, the command line's train / eval / --resume, the model directory, and
``seqlab.load(DIR)`` on sentences and documents of any length.

References for the expected values:
- the loss: label-smoothed cross-entropy written out by hand (Szegedy et al. 2016, sec. 7):
  for a real target position with gold token y and log-probabilities log p over V tokens,
  ``-(1 - eps) * log p[y] - eps / V * sum_v log p[v]``, summed over the target tokens
  (EOS included, padding excluded); evaluation's loss is the same with eps = 0, per token;
- BLEU and chrF: sacreBLEU called directly on the decoded hypotheses and the references;
- greedy search: a loop written here that runs the whole model on the growing prefix and takes
  the most likely token (BOS and padding excluded) until EOS or the length limit
  ``floor(max_length_a * source length + max_length_b)``;
- documents: the sentences translated one by one and joined with a space (the predictor gives
  each window's sentences to the model as separate sentences, so context changes nothing).

Two tiny models are trained once for the module on a generated word-by-word corpus
(tests/tasks/_translation_runs.py): a Transformer with one joint vocabulary (300 steps) and a
GRU with a vocabulary per language (100 steps).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import sacrebleu
import torch
import torch.nn.functional as F
from _cli_errors import refused as _one_line_error
from _translation_runs import sentence_pairs, train_args, write_aligned, write_table
from safetensors.torch import load_file
from torch.testing import assert_close

import seqlab
from seqlab import cli
from seqlab.data.subwords import train_translation_tokenizers
from seqlab.errors import SeqlabError
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.runner import initial_model, load_trained
from seqlab.tasks.translation.predictor import TranslationPredictor
from seqlab.tasks.translation.task import TranslationTask

pytestmark = pytest.mark.slow

PAIRS = 400
STEPS = 300
SEPARATE_VOCABULARIES = ["--set", "data.joint_vocabulary=false",
                         "--set", "model.share_embeddings=false"]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_table(tmp_path_factory.mktemp("corpus") / "pairs.tsv", sentence_pairs(PAIRS))


@pytest.fixture(scope="module")
def transformer_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "transformer"
    assert cli.main(train_args(corpus, out, steps=STEPS)) == 0
    return out


@pytest.fixture(scope="module")
def separate_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "gru-separate"
    assert cli.main([*train_args(corpus, out, model="gru", steps=100), *SEPARATE_VOCABULARIES]) == 0
    return out


@pytest.fixture(scope="module")
def trained(transformer_run: Path) -> tuple[TranslationTask, torch.nn.Module]:
    task, model, _ = load_trained(transformer_run)
    assert isinstance(task, TranslationTask)
    return task, model


@pytest.fixture(scope="module")
def predictor(transformer_run: Path) -> TranslationPredictor:
    loaded = seqlab.load(transformer_run)
    assert isinstance(loaded, TranslationPredictor)
    return loaded


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))


def _eval_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert cli.main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _sacrebleu_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    return {
        "bleu": sacrebleu.corpus_bleu(
            hypotheses, [references], lowercase=True, tokenize="13a"
        ).score,
        "sacrebleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
        "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
    }


@torch.no_grad()
def _greedy_reference(task: TranslationTask, model: torch.nn.Module, text: str) -> str:
    """Greedy search by running the whole model on the prefix at every step (no cache)."""
    source_tokenizer, target = task.tokenizers.source, task.tokenizers.target
    source = [*source_tokenizer.encode_one(text), source_tokenizer.eos_id]
    limit = math.floor(task.data.max_length_a * len(source) + task.data.max_length_b)
    source_ids = torch.tensor([source])  # (1, S)
    source_lengths = torch.tensor([len(source)])  # (1,)
    prefix = [target.bos_id]
    while len(prefix) - 1 < limit:  # at the limit EOS is forced
        logits = model(
            source_ids, source_lengths, torch.tensor([prefix]), torch.tensor([len(prefix)])
        )  # (1, t, V)
        log_probs = torch.log_softmax(logits[0, -1].double(), dim=-1)  # (V,)
        log_probs[[target.bos_id, target.pad_id]] = float("-inf")
        token = int(log_probs.argmax())
        if token == target.eos_id:
            break
        prefix.append(token)
    return target.decode(prefix[1:])


# ---- the model learns, and its directory ---------------------------------------------------


def test_the_transformer_learns_far_above_the_untrained_model(trained, transformer_run):
    task, _ = trained
    record = _metrics(transformer_run)
    assert record["split"] == "test" and record["training"]["steps"] == STEPS
    metrics = record["metrics"]
    # No test corpus: test is the 5% held out for validation.
    assert metrics["sentences"] == round(PAIRS * 0.05) == 20
    untrained = initial_model(task).eval()
    before = task.evaluate(untrained, "test")
    assert metrics["bleu"] > 30 and before["bleu"] < 5
    assert metrics["chrf"] > before["chrf"] + 30
    assert metrics["loss"] < before["loss"] / 4


def test_the_directory_holds_one_joint_tokenizer_learned_from_the_training_split(
    trained, transformer_run
):
    task, _ = trained
    assert (transformer_run / "tokenizer.json").is_file()
    assert not (transformer_run / "tokenizer.source.json").exists()
    assert not (transformer_run / "tokenizer.target.json").exists()
    artifacts = json.loads((transformer_run / "config.json").read_text())["artifacts"]
    assert artifacts["joint_vocabulary"] is True and artifacts["tokenizer"] == "tokenizer.json"
    assert (artifacts["train_pairs"], artifacts["train_pairs_skipped"]) == (PAIRS - 20, 0)
    train = task.corpus.split("train")
    learned = train_translation_tokenizers(
        train.sources, train.targets, joint=True, vocab_size=300, min_frequency=2
    )
    assert task.tokenizers.joint and task.tokenizers.source is task.tokenizers.target
    assert task.tokenizers.source.to_json() == learned.source.to_json()


def test_separate_vocabularies_are_saved_and_loaded_per_language(separate_run):
    assert (separate_run / "tokenizer.source.json").is_file()
    assert (separate_run / "tokenizer.target.json").is_file()
    assert not (separate_run / "tokenizer.json").exists()
    config = json.loads((separate_run / "config.json").read_text())
    assert config["model"]["family"] == "gru" and config["artifacts"]["joint_vocabulary"] is False
    task, model, _ = load_trained(separate_run)
    assert isinstance(task, TranslationTask) and not task.tokenizers.joint
    train = task.corpus.split("train")
    learned = train_translation_tokenizers(
        train.sources, train.targets, joint=False, vocab_size=300, min_frequency=2
    )
    assert task.tokenizers.source.to_json() == learned.source.to_json()
    assert task.tokenizers.target.to_json() == learned.target.to_json()
    assert learned.source.to_json() != learned.target.to_json()
    # The predictor reads both files and decodes as the task does.
    sources = list(task.corpus.split("test").sources)
    expected = task.translate_split(model, "test", beam_size=task.data.beam_size)
    assert seqlab.load(separate_run).translate(sources) == expected


# ---- the loss ------------------------------------------------------------------------------


def test_the_training_loss_is_label_smoothed_cross_entropy_over_real_target_tokens(trained):
    task, model = trained
    eps = task.data.label_smoothing
    assert eps == 0.1
    batch = task.train_batch(0)
    with torch.no_grad():
        step = task.loss(model, batch)
        logits = model(
            batch.source_ids, batch.source_lengths, batch.target_input, batch.target_lengths
        )  # (B, T, V)
    log_probs = torch.log_softmax(logits.double(), dim=-1)  # (B, T, V)
    vocabulary = log_probs.shape[-1]
    training = task.corpus.training_corpus()
    target = task.tokenizers.target
    expected, count, source_tokens = 0.0, 0, 0
    for row, index in enumerate(batch.indices.tolist()):
        gold = [*target.encode_one(training.targets[index]), target.eos_id]  # y + EOS
        source_tokens += len(task.tokenizers.source.encode_one(training.sources[index])) + 1
        assert batch.target_output[row, : len(gold)].tolist() == gold
        assert set(batch.target_output[row, len(gold) :].tolist()) <= {target.pad_id}
        for position, token in enumerate(gold):
            expected -= (1 - eps) * float(log_probs[row, position, token])
            expected -= eps / vocabulary * float(log_probs[row, position].sum())
        count += len(gold)
    assert batch.size > 1 and count < batch.target_output.numel()  # padding was there to skip
    assert step.count == count
    assert step.tokens == source_tokens + count
    assert float(step.loss_sum) == pytest.approx(expected, rel=1e-5)
    # The same as torch's own label-smoothed cross-entropy over the non-pad positions.
    real = batch.target_output != target.pad_id  # (B, T)
    torch_sum = F.cross_entropy(
        logits[real].double(), batch.target_output[real], reduction="sum", label_smoothing=eps
    )
    assert float(step.loss_sum) == pytest.approx(float(torch_sum), rel=1e-5)


def test_evaluation_loss_is_unsmoothed_cross_entropy_per_target_token(trained):
    task, model = trained
    source_tokenizer, target = task.tokenizers.source, task.tokenizers.target
    total, count = 0.0, 0
    corpus = task.corpus.split("val")
    with torch.no_grad():
        for source_text, target_text in zip(corpus.sources, corpus.targets, strict=True):
            source = [*source_tokenizer.encode_one(source_text), source_tokenizer.eos_id]
            gold = target.encode_one(target_text)
            logits = model(
                torch.tensor([source]),
                torch.tensor([len(source)]),
                torch.tensor([[target.bos_id, *gold]]),
                torch.tensor([len(gold) + 1]),
            )[0]  # (T, V)
            log_probs = torch.log_softmax(logits.double(), dim=-1)  # (T, V)
            for position, token in enumerate([*gold, target.eos_id]):
                total -= float(log_probs[position, token])
            count += len(gold) + 1
    metrics = task.evaluate(model, "val")
    assert metrics["loss"] == pytest.approx(total / count, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(total / count), rel=1e-5)


# ---- evaluation ----------------------------------------------------------------------------


def test_evaluate_equals_sacrebleu_on_the_decoded_split(trained):
    task, model = trained
    assert (task.data.beam_size, task.data.val_beam_size) == (2, 1)
    references = list(task.corpus.split("test").targets)
    for split, beam in (("test", task.data.beam_size), ("val", task.data.val_beam_size)):
        hypotheses = task.translate_split(model, split, beam_size=beam)
        assert len(hypotheses) == len(references) == 20
        metrics = task.evaluate(model, split)
        expected = _sacrebleu_scores(hypotheses, references)
        for name, value in expected.items():
            assert metrics[name] == value, (split, name)


def test_beam_size_one_is_greedy_search(trained, transformer_run, capsys):
    task, model = trained
    greedy_task = task.with_beam_size(1)
    assert greedy_task.data.beam_size == 1 and task.data.beam_size == 2
    assert greedy_task.data.max_length_a == task.data.max_length_a
    corpus = task.corpus.split("test")
    expected = [_greedy_reference(task, model, text) for text in corpus.sources]
    assert greedy_task.translate_split(model, "test", beam_size=1) == expected
    scores = _sacrebleu_scores(expected, list(corpus.targets))
    metrics = greedy_task.evaluate(model, "test")
    assert metrics["bleu"] == scores["bleu"] and metrics["chrf"] == scores["chrf"]
    printed = _eval_json(capsys, str(transformer_run), "--beam", "1")
    assert printed["decoding"]["beam_size"] == 1
    assert printed["bleu"] == scores["bleu"] and printed["chrf"] == scores["chrf"]


def test_a_beam_below_one_is_refused(trained, transformer_run, capsys):
    task, _ = trained
    for beam in (0, -1, True):
        with pytest.raises(SeqlabError, match="must be at least 1"):
            task.with_beam_size(beam)
    err = _one_line_error(capsys, "eval", str(transformer_run), "--beam", "0", "--json")
    assert "--beam (0) must be at least 1 (1: greedy search)" in err


def test_eval_on_aligned_files_equals_eval_on_the_same_pairs_as_a_table(
    transformer_run, tmp_path, capsys
):
    pairs = sentence_pairs(30, seed=11)
    source, reference = write_aligned(tmp_path, pairs, "fresh")
    table = write_table(tmp_path / "fresh.tsv", pairs)
    aligned = _eval_json(
        capsys, str(transformer_run), "--source", str(source), "--reference", str(reference)
    )
    tabled = _eval_json(capsys, str(transformer_run), "--data", str(table))
    assert aligned["sentences"] == 30
    assert [example["source"] for example in aligned["examples"]] == [s for s, _ in pairs[:5]]
    for name in ("bleu", "sacrebleu", "chrf", "loss", "perplexity", "examples", "signatures"):
        assert aligned[name] == tabled[name], name
    # The translations are the predictor's, scored by sacreBLEU.
    hypotheses = seqlab.load(transformer_run).translate([s for s, _ in pairs])
    expected = _sacrebleu_scores(hypotheses, [t for _, t in pairs])
    assert aligned["bleu"] == expected["bleu"] and aligned["chrf"] == expected["chrf"]


def test_source_without_reference_is_a_one_line_error(transformer_run, tmp_path, capsys):
    source, reference = write_aligned(tmp_path, sentence_pairs(3), "few")
    err = _one_line_error(capsys, "eval", str(transformer_run), "--source", str(source))
    assert "--source and --reference go together" in err
    err = _one_line_error(capsys, "eval", str(transformer_run), "--reference", str(reference))
    assert "--source and --reference go together" in err


def test_reloading_and_eval_reproduce_the_saved_test_metrics(trained, transformer_run, capsys):
    saved = _metrics(transformer_run)["metrics"]
    printed = _eval_json(capsys, str(transformer_run))
    # Every metric, signature and example exactly; the data section names the corpora read, and
    # evaluating reads only the test split (here the validation corpus), not the training one.
    assert {k: v for k, v in printed.items() if k != "data"} == {
        k: v for k, v in saved.items() if k != "data"
    }
    assert set(saved["data"]) == {"train", "val"} and set(printed["data"]) == {"val"}
    assert printed["data"]["val"] == saved["data"]["val"]
    task, model = trained
    evaluated = task.evaluate(model, "test")
    for name in ("bleu", "sacrebleu", "chrf", "loss", "perplexity"):
        assert evaluated[name] == saved[name], name


def test_load_translates_as_the_task_decodes(trained, predictor):
    task, model = trained
    sources = list(task.corpus.split("test").sources)
    assert predictor.beam_size == 2 and predictor.max_tokens == 128
    assert predictor.translate(sources) == task.translate_split(model, "test", beam_size=2)
    greedy = task.translate_split(model, "test", beam_size=1)
    assert predictor.translate(sources, beam_size=1) == greedy
    # A short text given as a document is one window of one sentence: the same translation.
    assert (
        predictor.translate_document(sources[0]).text == predictor.translate(sources[:1])[0].strip()
    )


def _tiny_transformer_task(tmp_path: Path, *settings: str) -> TranslationTask:
    """An untrained 16-wide Transformer whose position table holds 32 positions, with a test
    file whose first pair has 60 words a side (over 32 subwords)."""
    train = write_table(tmp_path / "train.tsv", sentence_pairs(100))
    long_pair = (" ".join(["Eins"] * 60) + ".", " ".join(["One"] * 60) + ".")
    test = write_table(tmp_path / "test.tsv", [long_pair, *sentence_pairs(3, seed=2)])
    tiny = ["model.max_len=32", "model.d_model=16", "model.num_heads=2",
            "model.dim_feedforward=16", "model.num_encoder_layers=1",
            "model.num_decoder_layers=1", "data.vocab_size=300"]  # fmt: skip
    run = build_run_config(
        "translation",
        overrides=[f"data.train_file={train}", f"data.test_file={test}", *tiny, *settings],
    )
    return TranslationTask(run)


def test_evaluation_keeps_a_sentence_longer_than_the_models_position_table(tmp_path):
    # TranslationDataConfig: "evaluation and translation keep every sentence".
    task = _tiny_transformer_task(tmp_path, "data.max_length=24")
    model = initial_model(task).eval()
    assert task.tokenizers.source.count_tokens(task.corpus.split("test").sources[0]) > 32
    assert task.report(model, "test")["sentences"] == 4


def test_a_max_length_beyond_the_position_table_is_refused_before_training(tmp_path):
    task = _tiny_transformer_task(tmp_path, "data.max_length=64")
    with pytest.raises(SeqlabError, match=r"data.max_length \(64\).*model.max_len \(32\)"):
        task.build_model()


# ---- --resume ------------------------------------------------------------------------------


def test_resume_of_a_finished_run_continues_to_the_uninterrupted_weights(
    corpus, transformer_run, tmp_path, recwarn
):
    # inverse_sqrt does not depend on the step budget: 200 steps, then --resume to 300, is the
    # same run as 300 in one go (the fixture's).
    split = tmp_path / "split"
    assert cli.main(train_args(corpus, split, steps=200)) == 0
    resumed = ["train", "translation", "--resume", "--steps", str(STEPS), "--quiet",
               "--out", str(split)]  # fmt: skip
    assert cli.main(resumed) == 0
    assert not [w for w in recwarn if "resuming with changed settings" in str(w.message)]
    for name in ("model.safetensors", "checkpoints/last/model.safetensors"):
        first, second = load_file(str(split / name)), load_file(str(transformer_run / name))
        assert sorted(first) == sorted(second)
        for key in first:
            assert_close(first[key], second[key], rtol=0, atol=0, msg=f"{name}: {key}")
    assert _metrics(split)["metrics"] == _metrics(transformer_run)["metrics"]
    assert _metrics(split)["training"]["steps"] == STEPS
    events = [json.loads(line) for line in (split / "log.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 200} in events


def test_resume_with_no_steps_left_changes_nothing(transformer_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(transformer_run, copy)
    weights = (copy / "model.safetensors").read_bytes()
    assert cli.main(["train", "translation", "--resume", "--quiet", "--out", str(copy)]) == 0
    assert (copy / "model.safetensors").read_bytes() == weights
    assert _metrics(copy)["metrics"] == _metrics(transformer_run)["metrics"]


def test_training_into_a_finished_run_without_resume_is_refused(corpus, transformer_run, capsys):
    names = ("config.json", "model.safetensors", "metrics.json", "tokenizer.json")
    before = {name: (transformer_run / name).read_bytes() for name in names}
    err = _one_line_error(capsys, *train_args(corpus, transformer_run))
    assert str(transformer_run) in err and "--resume" in err
    for name, content in before.items():
        assert (transformer_run / name).read_bytes() == content, f"{name} was touched"


# ---- the predictor on documents ------------------------------------------------------------


def test_a_text_over_max_length_is_translated_sentence_by_sentence_in_order(predictor):
    pairs = sentence_pairs(40, seed=5)
    text = " ".join(source for source, _ in pairs)
    tokenizer = predictor.task_object.tokenizers.source
    assert tokenizer.count_tokens(text) > predictor.max_tokens
    document = predictor.translate_document(text, beam_size=1)
    assert len(document.plan.segments) == 40 and len(document.plan.windows) > 1
    # Every sentence once, in order: the 40 sentences translated one by one, each stripped of
    # surrounding white space, joined with a space.
    one_by_one = predictor.translate([source for source, _ in pairs], beam_size=1)
    assert document.text == " ".join(output.strip() for output in one_by_one)
    # translate() sends the long text there, and a short text beside it alone.
    assert predictor.translate([text, pairs[0][0]], beam_size=1) == [document.text, one_by_one[0]]
    # ... and the order matches the references: a shuffled document would score far lower.
    reference = " ".join(target for _, target in pairs)
    assert sacrebleu.corpus_bleu([document.text], [[reference]]).score > 30


def test_a_fifty_thousand_character_document_translates(predictor):
    pairs = sentence_pairs(3000, seed=9)
    sources: list[str] = []
    while sum(len(s) + 1 for s in sources) < 50_000:
        sources.append(pairs[len(sources)][0])
    text = " ".join(sources)
    assert len(text) >= 50_000
    document = predictor.translate_document(text, beam_size=1)
    assert len(document.plan.segments) == len(sources)
    assert document.notes() == []
    one_by_one = predictor.translate(sources, beam_size=1)  # batched: well under a second
    assert document.text == " ".join(output.strip() for output in one_by_one)


def test_bad_input_is_a_clear_error(predictor):
    with pytest.raises(TypeError, match="translate takes a list of texts; wrap a single text"):
        predictor.translate("Eins zwei.")
    with pytest.raises(TypeError, match="text 1 is a int, not a str"):
        predictor.translate(["Eins zwei.", 3])
    with pytest.raises(ValueError, match="text 0 is empty; give each text at least one word"):
        predictor.translate(["  \n"])
    with pytest.raises(ValueError, match="the document is empty"):
        predictor.translate_document(" ")
    with pytest.raises(TypeError, match="translate_document takes a str, not a list"):
        predictor.translate_document(["Eins zwei."])  # type: ignore[arg-type]
    for beam in (0, 1.5, True):
        with pytest.raises(ValueError, match="must be a positive int"):
            predictor.translate(["Eins zwei."], beam_size=beam)  # type: ignore[arg-type]
    assert predictor.translate([]) == []
