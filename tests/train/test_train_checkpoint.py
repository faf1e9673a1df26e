"""Checkpoints: exact round trip, no pickle, and interrupted writes leave a loadable one."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from _toy_tasks import flat_parameters, regression_model
from torch import nn

import seqlab.train.checkpoint as checkpoint
from seqlab.train import TrainConfig, build_optimizer, build_scheduler
from seqlab.train.checkpoint import (
    find_checkpoint,
    load_best_weights,
    load_training_checkpoint,
    save_training_checkpoint,
    save_weights_checkpoint,
    saved_step,
)


def trained_state(steps: int, *, seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer, object]:
    model = regression_model(seed=seed)
    optimizer = build_optimizer(model, TrainConfig(lr=0.1, device="cpu"))
    scheduler = build_scheduler(
        optimizer, schedule="inverse_sqrt", warmup_steps=2, total_steps=10, min_lr_ratio=0.0
    )
    x = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    for _ in range(steps):
        optimizer.zero_grad()
        model(x).pow(2).sum().backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def fresh() -> tuple[nn.Module, torch.optim.Optimizer, object]:
    return trained_state(0, seed=77)


def save(folder: Path, steps: int, carried: object = None) -> tuple[nn.Module, object, object]:
    model, optimizer, scheduler = trained_state(steps)
    save_training_checkpoint(
        folder,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        progress={"step": steps},
        carried_state=carried,
        config={"lr": 0.1},
    )
    return model, optimizer, scheduler


def test_round_trip_restores_everything_exactly(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints" / "last"
    carried = (torch.randn(1, 2, 4, dtype=torch.float64), [torch.arange(3)], None)
    model, optimizer, scheduler = save(folder, 3, carried)
    # Draws right after saving, to compare with draws right after loading.
    expected_draws = (torch.rand(3), random.random(), np.random.rand())

    new_model, new_optimizer, new_scheduler = fresh()
    loaded = load_training_checkpoint(
        folder, model=new_model, optimizer=new_optimizer, scheduler=new_scheduler
    )
    draws = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(draws[0], expected_draws[0]) and draws[1:] == expected_draws[1:]
    assert loaded.progress == {"step": 3} and loaded.config == {"lr": 0.1}
    assert torch.equal(flat_parameters(new_model), flat_parameters(model))
    old_state, new_state = optimizer.state_dict(), new_optimizer.state_dict()
    for index, entries in old_state["state"].items():
        for name, value in entries.items():
            assert torch.equal(new_state["state"][index][name], value), (index, name)
    assert new_state["param_groups"] == old_state["param_groups"]
    assert isinstance(new_optimizer.param_groups[0]["betas"], tuple)
    assert new_scheduler.last_epoch == scheduler.last_epoch == 3
    assert new_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert torch.equal(loaded.carried_state[0], carried[0])
    assert torch.equal(loaded.carried_state[1][0], carried[1][0])
    assert loaded.carried_state[2] is None and isinstance(loaded.carried_state, tuple)
    assert sorted(p.name for p in folder.iterdir()) == [
        "model.safetensors", "optimizer.safetensors", "trainer.json", "trainer.safetensors"
    ]  # fmt: skip


def test_interrupted_save_leaves_the_previous_checkpoint_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "checkpoints" / "last"
    first_model, _, _ = save(folder, 2)
    real_save = checkpoint.save_safetensors_atomic

    def crash_on_optimizer(tensors: dict, path: Path, metadata: object = None) -> None:
        if Path(path).name == "optimizer.safetensors":
            raise OSError("disk full (simulated)")
        real_save(tensors, path, metadata)

    monkeypatch.setattr(checkpoint, "save_safetensors_atomic", crash_on_optimizer)
    with pytest.raises(OSError, match="simulated"):
        save(folder, 5)  # model.safetensors of step 5 was already written in the temp folder
    monkeypatch.undo()

    assert sorted(p.name for p in folder.parent.iterdir()) == ["last"]  # temp folder cleaned up
    model, optimizer, scheduler = fresh()
    loaded = load_training_checkpoint(folder, model=model, optimizer=optimizer, scheduler=scheduler)
    assert loaded.progress == {"step": 2}
    assert torch.equal(flat_parameters(model), flat_parameters(first_model))


def test_crash_between_the_two_renames_falls_back_to_the_old_folder(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints" / "last"
    first_model, _, _ = save(folder, 2)
    # The state a crash leaves after "last -> .last.old" and before ".last.tmp -> last":
    (folder.parent / ".last.tmp").mkdir()
    folder.rename(folder.parent / ".last.old")
    assert find_checkpoint(folder) == folder.parent / ".last.old"
    model, optimizer, scheduler = fresh()
    loaded = load_training_checkpoint(folder, model=model, optimizer=optimizer, scheduler=scheduler)
    assert loaded.progress == {"step": 2}
    save(folder, 4)  # the next save installs last and removes the leftovers
    assert sorted(p.name for p in folder.parent.iterdir()) == ["last"]
    assert find_checkpoint(folder) == folder


def test_weights_checkpoint_and_load_best_weights(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither best/ nor last/"):
        load_best_weights(regression_model(), tmp_path)
    save(tmp_path / "checkpoints" / "last", 1)
    best_model, _, _ = trained_state(3)
    save_weights_checkpoint(tmp_path / "checkpoints" / "best", model=best_model, progress={})
    target = regression_model(seed=5)
    assert load_best_weights(target, tmp_path).name == "best"
    assert torch.equal(flat_parameters(target), flat_parameters(best_model))
    model, optimizer, scheduler = fresh()
    with pytest.raises(ValueError, match="holds weights only"):
        load_training_checkpoint(
            tmp_path / "checkpoints" / "best", model=model, optimizer=optimizer, scheduler=scheduler
        )


def test_wrong_model_names_the_file_and_the_fix(tmp_path: Path) -> None:
    save(tmp_path / "last", 1)
    other = nn.Linear(3, 1).double()
    optimizer = torch.optim.AdamW(other.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    with pytest.raises(RuntimeError, match=r"model.safetensors does not fit this model .* config"):
        load_training_checkpoint(tmp_path / "last", model=other, optimizer=optimizer,
                                 scheduler=scheduler)  # fmt: skip


def test_tied_weights_are_saved_and_restored(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(5, 3)
            self.output = nn.Linear(3, 5, bias=False)
            self.output.weight = self.embedding.weight  # tied, as in language models

    model = Tied()
    optimizer = build_optimizer(model, TrainConfig(device="cpu"))
    scheduler = build_scheduler(
        optimizer, schedule="constant", warmup_steps=0, total_steps=1, min_lr_ratio=0.0
    )
    save_training_checkpoint(tmp_path / "last", model=model, optimizer=optimizer,
                             scheduler=scheduler, progress={})  # fmt: skip
    other = Tied()
    checkpoint.load_model_weights(tmp_path / "last", other)
    assert torch.equal(other.embedding.weight, model.embedding.weight)
    assert other.output.weight is other.embedding.weight


def test_saved_step_reads_the_step_and_never_raises(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints" / "last"
    save(folder, 3)
    assert saved_step(folder) == 3
    (folder / "trainer.json").write_text("{not json", encoding="utf-8")
    assert saved_step(folder) == "unknown"
    (folder / "trainer.json").write_text('{"progress": {}}', encoding="utf-8")
    assert saved_step(folder) == "unknown"
    assert saved_step(tmp_path / "nowhere") == "unknown"
