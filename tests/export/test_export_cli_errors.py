"""``seqlab export`` refuses bad input in one line (exit status 2, no traceback), before it
writes anything, and writes a working ONNX file from a model directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import seqlab
from seqlab import cli
from seqlab.data.batching import pad_batch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert cli.main(["export", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seqlab: error: ")
    return err


@pytest.fixture()
def dirs(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "model_dirs")
    return tmp_path / "model_dirs"


def test_unknown_format_lists_the_formats(dirs, capsys):
    err = _refused(capsys, str(dirs / "sentiment"), "--format", "tflite", "--out", "x")
    assert "unknown format 'tflite'; choose one of: onnx, int8" in err


def test_missing_directory(dirs, capsys):
    err = _refused(capsys, str(dirs / "nope"), "--format", "onnx", "--out", str(dirs / "m.onnx"))
    assert "model directory" in err and "does not exist" in err
    assert not (dirs / "m.onnx").exists()


@pytest.mark.parametrize("export_format", ["onnx", "int8"])
def test_unsupported_task_names_the_supported_ones(dirs, capsys, export_format):
    out = dirs / "out"
    err = _refused(capsys, str(dirs / "memory"), "--format", export_format, "--out", str(out))
    assert "a model of the memory task" in err and "sentiment, forecasting" in err
    assert not out.exists()


def test_onnx_out_that_is_a_folder(dirs, capsys):
    err = _refused(capsys, str(dirs / "sentiment"), "--format", "onnx", "--out", str(dirs))
    assert "is a folder; --format onnx writes one file" in err


def test_int8_out_that_is_a_file_or_a_full_folder(dirs, capsys):
    a_file = dirs / "sentiment_eval.csv"
    err = _refused(capsys, str(dirs / "sentiment"), "--format", "int8", "--out", str(a_file))
    assert "is a file; --format int8 writes a model directory" in err
    err = _refused(capsys, str(dirs / "sentiment"), "--format", "int8", "--out", str(dirs))
    assert "is a folder that is not empty" in err


def test_int8_of_an_int8_directory_and_its_onnx_are_refused(dirs, capsys):
    out = dirs / "int8"
    assert cli.main(["export", str(dirs / "sentiment"), "--format", "int8", "--out", str(out)]) == 0
    err = _refused(capsys, str(out), "--format", "int8", "--out", str(dirs / "again"))
    assert "holds an int8 model already" in err
    err = _refused(capsys, str(out), "--format", "onnx", "--out", str(dirs / "m.onnx"))
    assert "holds an int8 model, which cannot be exported to ONNX" in err


def test_malformed_quantization_field_is_one_line(dirs, capsys):
    out = dirs / "int8"
    assert cli.main(["export", str(dirs / "sentiment"), "--format", "int8", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    config["quantization"] = {"scheme": "int4"}
    (out / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert cli.main(["predict", str(out), "a film"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.json: 'quantization' must be an object" in err


def test_onnx_file_from_a_directory_classifies_as_seqlab(dirs, capsys):
    ort = pytest.importorskip("onnxruntime")
    out = dirs / "exports" / "sentiment.onnx"  # a folder that does not exist yet
    assert cli.main(["export", str(dirs / "sentiment"), "--format", "onnx", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    predictor = seqlab.load(dirs / "sentiment")
    texts = ["a gripping, moving film", "dull", "not bad at all, really quite good"]
    encoded = predictor.task_object.text_data.encode(texts).ids
    batch = pad_batch(encoded, pad_id=predictor.task_object.text_data.encoder.pad_id)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"ids": batch.ids.numpy(), "lengths": batch.lengths.numpy()})
    np.testing.assert_allclose(
        torch.softmax(torch.from_numpy(logits), -1).numpy(),
        predictor.probabilities(texts).numpy(),
        atol=1e-4,
        rtol=0,
    )
