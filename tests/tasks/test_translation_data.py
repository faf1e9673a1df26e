"""The translation task's data (seqlab.tasks.translation.data and .config): which pairs each split
holds, what is dropped for length and how it is reported, the settings' checks, and the presets.

References for the expected values: the pairs as written to the files (tests/tasks/
_translation_runs.py), Multi30k's files read directly with gzip, the held-out count
``max(1, round(n * val_fraction))`` (at most n - 1), and the sizes written in
seqlab/tasks/translation/options.py. Nothing here trains a model; the subword vocabularies are
learned where a length in subwords is needed.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from _translation_runs import sentence_pairs, write_aligned, write_table

from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.models.seq2seq_config import Seq2SeqRecurrentConfig, Seq2SeqTransformerConfig
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.translation.config import TranslationDataConfig, check_split
from seqlab.tasks.translation.data import TranslationData
from seqlab.tasks.translation.options import OPTIONS
from seqlab.tasks.translation.task import TranslationTask

_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()
needs_multi30k = pytest.mark.skipif(
    not _REAL_DATA, reason="SEQLAB_DATA is unset: the real Multi30k files are not available"
)

# A pair of 40 words a side: 41 subwords or more (one per word and the period) under any
# vocabulary, far over the max_length used below.
LONG_PAIR = (" ".join(["Eins"] * 40) + ".", " ".join(["One"] * 40) + ".")


def table_data(path: Path, *, seed: int = 0, **settings: object) -> TranslationData:
    """The data of a run training on the TSV ``path``, with ``settings`` on top."""
    config = TranslationDataConfig(dataset=None, train_file=str(path), **settings)
    return TranslationData(config, seed=seed)


def task_on(*settings: str) -> TranslationTask:
    """A translation task (a tiny vocabulary) with the ``--set`` settings given."""
    run = build_run_config(
        "translation", family="transformer", overrides=["data.vocab_size=300", *settings]
    )
    return TranslationTask(run)


def pair_lines(data: TranslationData, split: str) -> list[tuple[int, str, str]]:
    corpus = data.split(split)
    return list(zip(corpus.lines, corpus.sources, corpus.targets, strict=True))


# ---- splits of the user's corpus -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "val_fraction", "held_out"),
    [(400, 0.05, 20), (30, 0.05, 2), (10, 0.05, 1), (2, 0.05, 1), (7, 0.5, 4), (60, 0.25, 15)],
)
def test_without_a_validation_file_val_is_val_fraction_of_the_pairs(
    tmp_path, pairs, val_fraction, held_out
):
    written = sentence_pairs(pairs)
    path = write_table(tmp_path / "pairs.tsv", written)
    data = table_data(path, val_fraction=val_fraction)
    train, val = pair_lines(data, "train"), pair_lines(data, "val")
    assert len(val) == held_out == min(pairs - 1, max(1, round(pairs * val_fraction)))
    assert len(train) == pairs - held_out
    # Disjoint by line, together every line of the file (line 1 is the header), and each pair is
    # the pair written on its line.
    train_lines = {line for line, _, _ in train}
    val_lines = {line for line, _, _ in val}
    assert not train_lines & val_lines
    assert train_lines | val_lines == set(range(2, pairs + 2))
    for line, source, target in train + val:
        assert (source, target) == written[line - 2]
    # Both parts keep the file's order.
    assert [line for line, _, _ in train] == sorted(train_lines)
    assert [line for line, _, _ in val] == sorted(val_lines)


def test_the_held_out_pairs_are_a_function_of_the_seed(tmp_path):
    path = write_table(tmp_path / "pairs.tsv", sentence_pairs(400))
    first = [line for line, _, _ in pair_lines(table_data(path, seed=0), "val")]
    again = [line for line, _, _ in pair_lines(table_data(path, seed=0), "val")]
    other = [line for line, _, _ in pair_lines(table_data(path, seed=1), "val")]
    assert first == again
    assert len(other) == len(first) == 20 and other != first


def test_test_is_the_validation_corpus_when_no_test_corpus_is_given(tmp_path):
    path = write_table(tmp_path / "pairs.tsv", sentence_pairs(100))
    data = table_data(path)
    assert data.split("test") is data.split("val")
    assert len(data.split("test")) == 5
    # Read once, reported once: the report names train and val only.
    data.split("train")
    assert set(data.report()) == {"train", "val"}


def test_a_validation_file_means_nothing_is_held_out(tmp_path):
    written, held = sentence_pairs(50), sentence_pairs(8, seed=1)
    train_path = write_table(tmp_path / "train.tsv", written)
    val_path = write_table(tmp_path / "val.tsv", held)
    data = table_data(train_path, val_file=str(val_path))
    for split, pairs in (("train", written), ("val", held)):
        corpus = data.split(split)
        assert list(zip(corpus.sources, corpus.targets, strict=True)) == pairs, split
    assert data.split("test") is data.split("val")


def test_aligned_files_give_each_split(tmp_path):
    written = {"train": sentence_pairs(40), "val": sentence_pairs(6, seed=1),
               "test": sentence_pairs(7, seed=2)}  # fmt: skip
    files = {split: write_aligned(tmp_path, pairs, split) for split, pairs in written.items()}
    train_source, train_target = files["train"]
    config = TranslationDataConfig(
        dataset=None, train_source_file=str(train_source), train_target_file=str(train_target)
    )
    for split in ("val", "test"):
        config = config.with_aligned(split, *(str(path) for path in files[split]))
    data = TranslationData(config, seed=0)
    for split, pairs in written.items():
        corpus = data.split(split)
        assert list(zip(corpus.sources, corpus.targets, strict=True)) == pairs, split
        assert corpus.lines == tuple(range(1, len(pairs) + 1))
        assert corpus.origin == f"{files[split][0]} + {files[split][1]}"


def test_a_table_replaces_aligned_files_of_the_same_split(tmp_path):
    source, target = write_aligned(tmp_path, sentence_pairs(5), "val")
    table = write_table(tmp_path / "val.tsv", sentence_pairs(3, seed=4))
    config = TranslationDataConfig().with_aligned("val", str(source), str(target))
    swapped = config.with_table("val", str(table))
    assert (swapped.val_file, swapped.val_source_file, swapped.val_target_file) == (
        str(table),
        None,
        None,
    )
    with pytest.raises(SeqlabError, match="translation has splits train, val and test, not 'dev'"):
        check_split("dev")
    with pytest.raises(SeqlabError, match="not 'dev'"):
        config.with_table("dev", str(table))


def test_rows_skipped_while_reading_are_reported_once_with_file_and_line(tmp_path):
    path = write_table(tmp_path / "pairs.tsv", sentence_pairs(40))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = "Eins zwei.\t"  # line 3: no target
    lines[9] = "only one column"  # line 10
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = task_on(f"data.train_file={path}")
    notes = task.data_notes()
    # 38 usable pairs: round(38 * 0.05) = 2 held out; the skipped rows go with the training part
    # only, and test (the validation corpus) is not reported a second time.
    assert (len(task.corpus.split("train")), len(task.corpus.split("val"))) == (36, 2)
    assert notes[0].startswith(f"{path}: 2 pairs skipped (not used)")
    assert notes[1:] == [
        f"  {path}:3: empty target ('target'); fill in the target ('target') or delete the pair",
        f"  {path}:10: 1 columns, the header has 2; fill in the missing columns",
    ]
    assert task.artifacts()["train_pairs_skipped"] == 2


# ---- Multi30k ------------------------------------------------------------------------------


def _gzip_lines(name: str) -> list[str]:
    with gzip.open(Path(_REAL_DATA) / "multi30k" / name, "rt", encoding="utf-8") as file:
        return [line.strip() for line in file.read().split("\n")[:-1]]


@needs_multi30k
def test_multi30k_splits_in_both_directions_equal_the_files():
    stems = {"train": "train", "val": "val", "test": "test_2016_flickr"}
    forward = TranslationData(TranslationDataConfig(), seed=0)
    backward = TranslationData(TranslationDataConfig(source_lang="en", target_lang="de"), seed=0)
    assert forward.config.uses_multi30k and backward.config.uses_multi30k
    for split, count in (("train", 29_000), ("val", 1_014), ("test", 1_000)):
        german, english = (_gzip_lines(f"{stems[split]}.{lang}.gz") for lang in ("de", "en"))
        assert len(german) == len(english) == count
        assert forward.split(split).sources == tuple(german), split
        assert forward.split(split).targets == tuple(english), split
        # en -> de: the same pairs, sides swapped.
        assert backward.split(split).sources == tuple(english), split
        assert backward.split(split).targets == tuple(german), split
        assert forward.split(split).skipped == ()


# ---- pairs over data.max_length subwords ---------------------------------------------------


def _with_long_pairs(tmp_path: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    """A training TSV with LONG_PAIR on lines 5 and 31, and a validation TSV holding it too."""
    written = sentence_pairs(60)
    written[3] = written[29] = LONG_PAIR
    train = write_table(tmp_path / "train.tsv", written)
    val = write_table(tmp_path / "val.tsv", [LONG_PAIR, *sentence_pairs(5, seed=3)])
    return train, val, written


def _expected_too_long(task: TranslationTask, written, limit: int) -> list[tuple[int, str, int]]:
    """(line, side, subwords) of every pair with a side over ``limit``, counted directly with
    the task's tokenizers (the source side first, as a pair is reported once)."""
    tokenizers = task.tokenizers
    found = []
    for number, (source, target) in enumerate(written, start=2):
        for side, tokenizer, text in (
            ("source", tokenizers.source, source),
            ("target", tokenizers.target, target),
        ):
            count = len(tokenizer.encode([text])[0])
            if count > limit:
                found.append((number, side, count))
                break
    return found


def test_long_pairs_are_dropped_from_training_only_and_reported_with_file_and_line(tmp_path):
    train, val, written = _with_long_pairs(tmp_path)
    task = task_on(f"data.train_file={train}", f"data.val_file={val}", "data.max_length=20")
    notes = task.data_notes()
    expected = _expected_too_long(task, written, 20)
    dropped = {line for line, _, _ in expected}
    assert {5, 31} <= dropped and len(expected) <= 5  # every one is listed (5 at most are)
    assert notes[0] == (
        f"{train}: {len(expected)} pairs skipped (not used), {60 - len(expected)} pairs read"
    )
    assert len(notes) == 1 + len(expected)
    for (line, side, count), note in zip(expected, notes[1:], strict=True):
        assert note.startswith(f"  {train}:{line}: {side} has {count} tokens, over ")
    # Training drops them; the read split, validation and the test split keep every pair.
    training = task.corpus.training_corpus()
    assert training.lines == tuple(n for n in range(2, 62) if n not in dropped)
    assert len(task.corpus.split("train")) == 60
    assert task.corpus.split("val").sources[0] == LONG_PAIR[0]
    assert len(task.corpus.split("test")) == 6
    artifacts = task.artifacts()
    assert (artifacts["train_pairs"], artifacts["train_pairs_too_long"]) == (
        60 - len(dropped),
        len(dropped),
    )


def test_a_long_pair_note_names_the_setting_to_raise(tmp_path):
    train, val, _ = _with_long_pairs(tmp_path)
    task = task_on(f"data.train_file={train}", f"data.val_file={val}", "data.max_length=20")
    note = task.data_notes()[1]
    assert "data.max_length (20)" in note and "max_tokens" not in note


def test_strict_makes_the_first_long_pair_an_error_naming_its_line(tmp_path):
    train, val, written = _with_long_pairs(tmp_path)
    task = task_on(
        f"data.train_file={train}", f"data.val_file={val}", "data.max_length=20", "data.strict=true"
    )
    line, side, count = _expected_too_long(task, written, 20)[0]
    with pytest.raises(SeqlabError) as caught:
        task.data_notes()
    assert str(caught.value).startswith(f"{train}:{line}: {side} has {count} tokens, over ")


def test_every_pair_too_long_is_an_error_naming_max_length(tmp_path):
    path = write_table(tmp_path / "train.tsv", sentence_pairs(40))
    task = task_on(f"data.train_file={path}", "data.max_length=1")
    with pytest.raises(SeqlabError, match=r"every pair is longer than data.max_length \(1\)"):
        task.data_notes()


def test_misaligned_files_stop_training_with_both_counts(tmp_path, capsys):
    source, target = write_aligned(tmp_path, sentence_pairs(5), "train")
    target.write_text("".join(target.read_text().splitlines(keepends=True)[:4]))
    out = tmp_path / "run"
    code = cli.main(
        ["train", "translation", "--source-file", str(source), "--target-file", str(target),
         "--quiet", "--out", str(out)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1
    assert captured.err == (
        f"seqlab: error: {source} has 5 lines but {target} has 4; aligned files need one "
        "sentence a line and the same count\n"
    )
    assert not out.exists()  # refused before the directory was made


def test_a_source_file_without_target_file_is_a_one_line_error(tmp_path, capsys):
    source, _ = write_aligned(tmp_path, sentence_pairs(5), "train")
    code = cli.main(
        ["train", "translation", "--source-file", str(source), "--quiet",
         "--out", str(tmp_path / "run")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "data.train_source_file and data.train_target_file go together" in err


# ---- the settings' checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"train_source_file": "a.de"},
         "data.train_source_file and data.train_target_file go together"),
        ({"test_target_file": "a.en"},
         "data.test_source_file and data.test_target_file go together"),
        ({"val_file": "v.tsv", "val_source_file": "v.de", "val_target_file": "v.en"},
         "data.val_file and data.val_source_file both give the val corpus; give one"),
        ({"dataset": None}, "set data.train_file"),
        ({"source_lang": "en", "target_lang": "en"},
         "data.source_lang and data.target_lang are both 'en'; pick two"),
        ({"vocab_size": 0}, r"data.vocab_size \(0\) must be at least 1"),
        ({"max_length": 0}, r"data.max_length \(0\) must be at least 1"),
        ({"max_tokens": -5}, r"data.max_tokens \(-5\) must be at least 1"),
        ({"beam_size": 0}, r"data.beam_size \(0\) must be at least 1"),
        ({"val_beam_size": 0}, r"data.val_beam_size \(0\) must be at least 1"),
        ({"eval_max_tokens": 0}, r"data.eval_max_tokens \(0\) must be at least 1"),
        ({"max_chars": 0}, r"data.max_chars \(0\) must be at least 1"),
        ({"val_fraction": 0.0}, r"data.val_fraction \(0.0\) must be in \(0, 1\)"),
        ({"val_fraction": 1.0}, r"data.val_fraction \(1.0\) must be in \(0, 1\)"),
        ({"label_smoothing": 1.0}, r"data.label_smoothing \(1.0\) must be in \[0, 1\)"),
        ({"label_smoothing": -0.1}, r"data.label_smoothing \(-0.1\) must be in \[0, 1\)"),
        ({"length_penalty": -1.0}, r"data.length_penalty \(-1.0\) must be >= 0"),
        ({"max_length_a": -0.5}, r"data.max_length_a \(-0.5\) must be >= 0"),
        ({"max_length_b": 0}, r"data.max_length_b \(0\) at least 1"),
    ],
)  # fmt: skip
def test_data_settings_are_checked_naming_the_field(settings, message):
    with pytest.raises(ValueError, match=message):
        TranslationDataConfig(**settings)
    # The same check through the configuration layers, as `--set` reaches it.
    overrides = [
        f"data.{key}={'null' if value is None else value}" for key, value in settings.items()
    ]
    with pytest.raises(SeqlabError, match=message):
        build_run_config("translation", overrides=overrides)


def test_the_defaults_are_valid_and_read_multi30k_de_to_en():
    config = TranslationDataConfig()
    assert (config.dataset, config.source_lang, config.target_lang) == ("multi30k", "de", "en")
    assert config.uses_multi30k and not config.has_files("train")
    assert not config.with_table("train", "t.tsv").uses_multi30k


# ---- presets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "config_class", "sizes", "train"),
    [
        ("transformer", Seq2SeqTransformerConfig,
         {"d_model": 256, "num_heads": 8, "num_encoder_layers": 3, "num_decoder_layers": 3,
          "dim_feedforward": 1024, "dropout": 0.2, "max_len": 512, "share_embeddings": True},
         {"lr": 1e-3, "warmup_steps": 1000, "grad_clip": 1.0}),
        ("lstm", Seq2SeqRecurrentConfig,
         {"family": "lstm", "hidden_size": 256, "num_layers": 2, "attention": "general",
          "dropout": 0.3, "share_embeddings": True},
         {"lr": 2e-3, "warmup_steps": 200, "grad_clip": 5.0}),
        ("gru", Seq2SeqRecurrentConfig,
         {"family": "gru", "hidden_size": 256, "num_layers": 2, "attention": "general",
          "dropout": 0.3, "share_embeddings": True},
         {"lr": 2e-3, "warmup_steps": 200, "grad_clip": 5.0}),
    ],
)  # fmt: skip
def test_cpu_small_composes_the_sizes_of_each_family(family, config_class, sizes, train):
    run = build_run_config("translation", family=family, preset="cpu-small")
    assert type(run.model) is config_class
    preset = OPTIONS.presets["cpu-small"]
    # The literal sizes above are the ones options.py writes for the family...
    assert {k: v for k, v in sizes.items() if k != "family"} == preset["model_by_family"][family]
    # ... and each reached the model config.
    for name, value in sizes.items():
        assert getattr(run.model, name) == value, name
    for name, value in train.items():
        assert getattr(run.train, name) == value, name
    for name, value in preset["train"].items():
        assert getattr(run.train, name) == value, name
    assert (run.data.vocab_size, run.data.joint_vocabulary, run.data.max_tokens) == (
        8000,
        True,
        4096,
    )
    # Settings the preset leaves alone keep the family defaults.
    assert (run.train.schedule, run.train.betas, run.train.eps) == (
        "inverse_sqrt",
        (0.9, 0.98),
        1e-9,
    )


def test_without_a_preset_the_model_is_the_papers_base_and_overrides_win():
    run = build_run_config("translation")
    assert run.model == Seq2SeqTransformerConfig()
    assert (run.model.d_model, run.model.num_encoder_layers, run.train.lr) == (512, 6, 7e-4)
    run = build_run_config(
        "translation", family="gru", preset="cpu-small", overrides=["model.hidden_size=64"]
    )
    assert type(run.model) is Seq2SeqRecurrentConfig and run.model.family == "gru"
    assert (run.model.hidden_size, run.model.num_layers) == (64, 2)
