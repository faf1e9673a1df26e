"""Training on two processes (seqlab.train.distributed) equals training on one.

Two CPU processes with gloo on loopback, started as torchrun starts them (its environment
variables, ``_distributed_worker.py``), train tiny real runs; the same runs in this process,
with the same global batch, are the reference. The weights after the last step and the final
model must agree within 1e-5 (the measured gap is float32 rounding, around 1e-7: shares of a
batch go through the kernels in other shapes and their sums are added in another order). Also:
only rank 0 writes (the other rank's working directory stays empty), a batch size the world
size does not divide is a one-line error, and a distributed run resumed after a restart ends
where an uninterrupted run does. Then the unit pieces: each rank's share of every batch type the
tasks build, and the summing of gradients over ranks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from _distributed_worker import lm_cli_args, memory_cli_args, memory_run, write_lm_text
from safetensors.torch import load_file
from torch.testing import assert_close

from seqlab.cli import main as seqlab_main
from seqlab.data.batching import pad_batch
from seqlab.data.memory import MemoryBatch
from seqlab.errors import SeqlabError
from seqlab.tasks.lm.task import TextSegment
from seqlab.tasks.runner import train_run
from seqlab.train.distributed import World, check_batch_size, share_of_batch

WORKER = Path(__file__).with_name("_distributed_worker.py")
RUNS = ("memory_lstm", "memory_transformer", "lm_lstm", "odd_batch", "resume")
TOLERANCE = 1e-5
ODD_BATCH_MESSAGE = (
    "train.batch_size (7) is not divisible by the world size (2): each of the 2 processes "
    "trains on an equal share of every batch; set train.batch_size to a multiple of 2 (e.g. 6 "
    "or 8), or start a number of processes that divides 7"
)


class TwoRanks(NamedTuple):
    root: Path  # rank r worked in root / f"rank{r}"; root / "shared" is both ranks'
    results: list[dict[str, Any]]  # per rank, what each run returned


def _free_port() -> int:
    """A loopback port that is free, and whose successor is free too (a resumed run's)."""
    while True:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> TwoRanks:
    root = tmp_path_factory.mktemp("two-ranks")
    shared = root / "shared"
    shared.mkdir()
    write_lm_text(shared / "lm.txt")
    ports = [_free_port() for _ in RUNS]
    processes = []
    for rank in range(2):
        folder = root / f"rank{rank}"
        folder.mkdir()
        spec = {"ports": ports, "shared": str(shared), "results": str(root / f"results{rank}")}
        (root / f"spec{rank}.json").write_text(json.dumps(spec), encoding="utf-8")
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(ports[0]),
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        processes.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), str(root / f"spec{rank}.json")],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=180)[0])
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
    for rank, (process, output) in enumerate(zip(processes, outputs, strict=True)):
        assert process.returncode == 0, f"rank {rank} failed:\n{output}"
    results = [json.loads((root / f"results{rank}").read_text()) for rank in range(2)]
    return TwoRanks(root=root, results=results)


def _weights(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The final model and the last step's weights of a model directory."""
    return {
        "model": load_file(folder / "model.safetensors"),
        "last": load_file(folder / "checkpoints" / "last" / "model.safetensors"),
    }


def _train_log(folder: Path) -> dict[str, list[float]]:
    """The loss and the pre-clip gradient norm of every logged step. Adam's update hardly
    depends on the gradient's scale, so the norms are what shows a gradient summed or divided
    wrongly over the ranks."""
    lines = (folder / "log.jsonl").read_text(encoding="utf-8").splitlines()
    records = [record for record in map(json.loads, lines) if record["event"] == "train"]
    return {key: [record[key] for record in records] for key in ("step", "loss", "grad_norm")}


def _without_key_bias(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """An attention layer's packed q/k/v bias with the key third zeroed. Its gradient is zero
    in exact arithmetic (softmax(q.(k + b)) = softmax(q.k): q.b is the same for every key), so
    it holds only rounding noise, which Adam divides by its own size into steps of about lr:
    any two runs that round differently (one process with another batch size too) differ there
    by about lr per step."""
    if not name.endswith("in_proj_bias"):
        return tensor
    width = tensor.numel() // 3
    kept = tensor.clone()
    kept[width : 2 * width] = 0.0
    return kept


def _assert_same_run(two: Path, one: Path) -> None:
    """The same weights after the last step and in the final model, and the same logged losses
    and gradient norms (rank 0 logs the global batch's, not its share's)."""
    distributed, single = _weights(two), _weights(one)
    for which in ("model", "last"):
        assert distributed[which].keys() == single[which].keys()
        for name, tensor in single[which].items():
            assert_close(
                _without_key_bias(name, distributed[which][name]),
                _without_key_bias(name, tensor),
                rtol=0.0,
                atol=TOLERANCE,
                msg=name,
            )
    two_log, one_log = _train_log(two), _train_log(one)
    assert two_log["step"] == one_log["step"] == [1, 2, 3, 4]
    assert_close(two_log["loss"], one_log["loss"], rtol=1e-5, atol=0.0)
    assert_close(two_log["grad_norm"], one_log["grad_norm"], rtol=1e-5, atol=0.0)


# ---- two processes against one ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("run", ["memory_lstm", "lm_lstm"])
def test_two_processes_of_the_command_train_what_one_trains(
    run: str, two_ranks: TwoRanks, tmp_path: Path
) -> None:
    """``seqlab train`` under torchrun's variables: a recurrent classifier (recall) and a
    stateful language model, whose state each rank carries for its own rows."""
    assert two_ranks.results[0][run] == 0 and two_ranks.results[1][run] == 0
    one = tmp_path / "one"
    if run == "memory_lstm":
        args = memory_cli_args(str(one))
    else:
        args = lm_cli_args(str(two_ranks.root / "shared" / "lm.txt"), str(one))
    assert seqlab_main(args) == 0
    _assert_same_run(two_ranks.root / "rank0" / "runs" / run.replace("_", "-"), one)


@pytest.mark.slow
def test_two_processes_with_accumulation_train_what_one_trains(
    two_ranks: TwoRanks, tmp_path: Path
) -> None:
    """A Transformer (copy: a loss per target token), two micro-batches per step."""
    one = train_run(
        memory_run("transformer", grad_accum_steps=2), tmp_path / "one", progress="quiet"
    )
    two = two_ranks.root / "rank0" / "runs" / "memory-transformer"
    _assert_same_run(two, one.model_dir)
    # Every rank returns rank 0's final metrics.
    assert two_ranks.results[0]["memory_transformer"] == two_ranks.results[1]["memory_transformer"]
    assert two_ranks.results[0]["memory_transformer"]["accuracy"] == pytest.approx(
        one.metrics["accuracy"], abs=1e-9
    )


@pytest.mark.slow
def test_only_rank_zero_writes(two_ranks: TwoRanks) -> None:
    written = sorted(path.name for path in (two_ranks.root / "rank0" / "runs").iterdir())
    assert written == ["lm-lstm", "memory-lstm", "memory-transformer"]
    for name in written:
        folder = two_ranks.root / "rank0" / "runs" / name
        for file in ("config.json", "model.safetensors", "metrics.json", "log.jsonl"):
            assert (folder / file).is_file(), folder / file
    # Rank 1 ran in a folder of its own with the same relative --out: it wrote nothing there.
    assert list((two_ranks.root / "rank1").rglob("*")) == []


@pytest.mark.slow
def test_a_batch_the_world_size_does_not_divide_is_a_one_line_error(two_ranks: TwoRanks) -> None:
    for rank in range(2):
        assert two_ranks.results[rank]["odd_batch"] == ODD_BATCH_MESSAGE
    assert not (two_ranks.root / "rank0" / "runs" / "odd").exists()


@pytest.mark.slow
def test_a_resumed_distributed_run_ends_where_an_uninterrupted_one_does(
    two_ranks: TwoRanks, tmp_path: Path
) -> None:
    """2 steps on two processes, a restart, 2 more: the weights of 4 uninterrupted steps."""
    assert two_ranks.results[0]["resume"] == 0
    one = train_run(memory_run("lstm", steps=4), tmp_path / "one", progress="quiet")
    resumed = two_ranks.root / "shared" / "resumed"
    _assert_same_run(resumed, one.model_dir)
    trainer = json.loads((resumed / "checkpoints" / "last" / "trainer.json").read_text())
    assert trainer["progress"]["step"] == 4
    assert trainer["progress"]["world_size"] == 2


# ---- each rank's share of a batch -----------------------------------------------------------


def test_a_token_batch_is_cut_into_contiguous_rows_as_even_as_possible() -> None:
    """5 rows over 2 ranks: rows 0-2 and 3-4, every field cut alike (ids keep the global
    padding width; the mask and lengths still say which positions are real)."""
    batch = pad_batch(
        [[5, 6], [7], [8, 9, 10, 11], [12, 13, 14], [15]], pad_id=0, labels=[0, 1, 1, 0, 1]
    )
    for rank, rows in ((0, slice(0, 3)), (1, slice(3, 5))):
        share = share_of_batch(batch, World(rank=rank, size=2))
        assert type(share) is type(batch)
        for field in ("ids", "lengths", "labels", "mask", "indices"):
            assert torch.equal(getattr(share, field), getattr(batch, field)[rows]), field
    shares = [share_of_batch(batch, World(rank=rank, size=2)) for rank in range(2)]
    assert torch.equal(torch.cat([share.ids for share in shares]), batch.ids)


def test_shares_keep_scalars_and_flags_and_cut_every_container() -> None:
    unlabelled = pad_batch([[1, 2], [3], [4], [5, 6]], pad_id=0)
    assert share_of_batch(unlabelled, World(rank=1, size=2)).labels is None
    rows = torch.arange(8).view(4, 2)  # (B, T)
    segment = TextSegment(inputs=rows, targets=rows + 1, reset=True)
    share = share_of_batch(segment, World(rank=3, size=4))
    assert share.reset is True
    assert torch.equal(share.inputs, torch.tensor([[6, 7]]))

    class Pair(NamedTuple):
        x: torch.Tensor
        scale: torch.Tensor

    nested = {"pair": Pair(torch.arange(6.0), torch.tensor(2.0)), "rows": [torch.ones(6, 2)]}
    share = share_of_batch(nested, World(rank=2, size=3))
    assert isinstance(share["pair"], Pair)
    assert torch.equal(share["pair"].x, torch.tensor([4.0, 5.0]))
    assert torch.equal(share["pair"].scale, torch.tensor(2.0))  # a 0-d tensor is not cut
    assert share["rows"][0].shape == (2, 2)


def test_a_rank_past_the_last_row_gets_no_share() -> None:
    """A short last batch of an epoch: 1 row over 2 ranks; rank 1 then adds nothing."""
    batch = MemoryBatch(inputs=torch.tensor([[1, 2, 3]]), targets=torch.tensor([2]))
    assert share_of_batch(batch, World(rank=1, size=2)) is None
    assert torch.equal(share_of_batch(batch, World(rank=0, size=2)).inputs, batch.inputs)


def test_a_tensor_without_the_batch_axis_first_is_refused() -> None:
    batch = MemoryBatch(inputs=torch.zeros(4, 3), targets=torch.zeros(3, 4))
    with pytest.raises(TypeError, match=r"batch\.targets has 3 rows .* the batch has 4"):
        share_of_batch(batch, World(rank=0, size=2))
    with pytest.raises(TypeError, match="holds no tensor with a batch axis"):
        share_of_batch({"size": 4}, World(rank=0, size=2))


def test_the_batch_size_check_names_the_field_the_world_size_and_the_fix() -> None:
    check_batch_size(8, World(rank=0, size=4))
    check_batch_size(3, World())
    with pytest.raises(SeqlabError) as error:
        check_batch_size(3, World(rank=1, size=4))
    assert str(error.value) == (
        "train.batch_size (3) is not divisible by the world size (4): each of the 4 processes "
        "trains on an equal share of every batch; set train.batch_size to a multiple of 4 "
        "(e.g. 4), or start a number of processes that divides 3"
    )
