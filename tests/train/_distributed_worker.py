"""One process of the two-process training runs of test_distributed.py, and the runs themselves.

The test starts this file twice, as ``torchrun`` would start ``seqlab train``: with RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set, and each rank in a working directory
of its own. Fresh runs write to RELATIVE paths, so a rank writing anything would leave it in its
own folder (as on two machines without a shared disk); the resume runs use an absolute path in
a folder both ranks share, since resuming reads ``checkpoints/last`` on every rank.

usage: python _distributed_worker.py SPEC.json, where SPEC holds "ports" (one per run, the
process group is set up and torn down by each; the port after a run's is free too), "shared"
(the shared folder) and "results" (the JSON file this rank writes its outcomes to, keyed by run
name).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from seqlab.cli import main as seqlab_main
from seqlab.errors import SeqlabError
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.tasks.base import RunConfig
from seqlab.tasks.memory.config import MemoryDataConfig
from seqlab.tasks.runner import train_run
from seqlab.train import TrainConfig

LM_LINE = "Seqlab trains on two processes; both see the same batches.\n"


def memory_run(
    family: str, *, steps: int = 4, batch_size: int = 8, grad_accum_steps: int = 1
) -> RunConfig:
    """A tiny memory run: copy for the Transformer, recall for the recurrent families; no
    dropout (each rank draws its own masks, so only a dropout-free run can equal one process)."""
    model = (
        TransformerConfig(d_model=16, num_heads=2, num_layers=1, dim_feedforward=32, dropout=0.0)
        if family == "transformer"
        else RecurrentConfig(family=family, hidden_size=12)
    )
    return RunConfig(
        task="memory",
        data=MemoryDataConfig(
            kind="copy" if family == "transformer" else "recall",
            distance=5,
            alphabet_size=5,
            string_length=3,
            eval_examples=64,
        ),
        model=model,
        train=TrainConfig(
            steps=steps,
            batch_size=batch_size,
            grad_accum_steps=grad_accum_steps,
            lr=1e-2,
            schedule="constant",
            warmup_steps=0,
            eval_every=2,
            log_every=1,
            device="cpu",
            grad_clip=1.0,
        ),  # fmt: skip
    )


def memory_cli_args(out: str) -> list[str]:
    """``seqlab train memory`` of a tiny LSTM (recall), the command a user runs under torchrun."""
    settings = ["model.hidden_size=12", "data.distance=5", "data.alphabet_size=5",
                "data.eval_examples=64", "train.batch_size=8", "train.eval_every=2",
                "train.log_every=1", "train.schedule=constant", "train.warmup_steps=0",
                "train.lr=1e-2", "train.device=cpu"]  # fmt: skip
    return ["train", "memory", "--model", "lstm", "--kind", "recall", "--steps", "4",
            *(arg for setting in settings for arg in ("--set", setting)), "--quiet",
            "--out", out]  # fmt: skip


def lm_cli_args(data: str, out: str) -> list[str]:
    """``seqlab train lm`` of a tiny LSTM: a stateful stream whose state each rank carries for
    its own rows."""
    settings = ["model.hidden_size=16", "model.num_layers=1", "model.dropout=0.0",
                "data.bptt=8", "train.batch_size=4", "train.schedule=constant",
                "train.warmup_steps=0", "train.lr=1e-2", "train.eval_every=2",
                "train.log_every=1", "train.device=cpu", "data.eval_batch_size=8"]  # fmt: skip
    return ["train", "lm", "--model", "lstm", "--data", data, "--steps", "4",
            *(arg for setting in settings for arg in ("--set", setting)), "--quiet",
            "--out", out]  # fmt: skip


def write_lm_text(path: Path) -> Path:
    path.write_text(LM_LINE * 12, encoding="utf-8", newline="")
    return path


def _runs(shared: Path) -> dict[str, Any]:
    """Each run: a callable returning what the test checks (an exit code or an error line)."""

    def odd_batch() -> str:
        try:
            train_run(memory_run("lstm", batch_size=7), "runs/odd", progress="quiet")
        except SeqlabError as error:
            return str(error)
        return "no error"

    def resume() -> int:
        out = shared / "resumed"
        train_run(memory_run("lstm", steps=2), out, progress="quiet")
        # A new process group, as after a restart: on a port of its own, since the last one's
        # may still be held by the socket just closed.
        os.environ["MASTER_PORT"] = str(int(os.environ["MASTER_PORT"]) + 1)
        train_run(memory_run("lstm", steps=4), out, resume=True, progress="quiet")
        return 0

    return {
        "memory_lstm": lambda: seqlab_main(memory_cli_args("runs/memory-lstm")),
        "memory_transformer": lambda: (
            train_run(
                memory_run("transformer", grad_accum_steps=2),
                "runs/memory-transformer",
                progress="quiet",
            ).metrics
        ),  # fmt: skip
        "lm_lstm": lambda: seqlab_main(lm_cli_args(str(shared / "lm.txt"), "runs/lm-lstm")),
        "odd_batch": odd_batch,
        "resume": resume,
    }


def main(spec_path: str) -> None:
    torch.set_num_threads(1)
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    results: dict[str, Any] = {}
    runs = _runs(Path(spec["shared"]))
    for (name, run), port in zip(runs.items(), spec["ports"], strict=True):
        os.environ["MASTER_PORT"] = str(port)
        results[name] = run()
    Path(spec["results"]).write_text(json.dumps(results), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
