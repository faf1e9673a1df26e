"""A generated text and the arguments of a tiny language-model run, shared by the lm task and
command-line tests.

The text repeats one line of ``PERIOD`` characters, so a tiny model memorises it in a few hundred
steps and a test can check that it did: its validation loss falls far below ln V (the uniform
guess over V ids), and greedy generation continues the period exactly. The line has a
character that occurs once (``PERIOD[0]``, a capital), so any window of the text holding it
fixes where in the period it stands.
"""

from __future__ import annotations

from pathlib import Path

LINE = "Seqlab models text; a tiny net learns this line by heart.\n"
PERIOD = len(LINE)


def periodic_text(characters: int, *, line: str = LINE) -> str:
    """The first ``characters`` characters of ``line`` repeated."""
    repeats = characters // len(line) + 1
    return (line * repeats)[:characters]


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


TINY_SETTINGS = {
    "transformer": ["model.d_model=32", "model.num_heads=2", "model.num_layers=1",
                    "model.context=32", "model.dropout=0.0", "train.lr=1e-2"],
    "lstm": ["model.hidden_size=48", "model.num_layers=1", "model.dropout=0.0",
             "data.bptt=24", "train.lr=1e-2"],
}  # fmt: skip


def train_args(data: Path, out: Path, *, model: str = "transformer", steps: int = 300) -> list[str]:
    """`seqlab train lm` of a tiny model on the text file ``data`` (its last 10% validates).

    A constant learning rate after a short warm-up does not depend on the step budget, so 200
    steps resumed to 300 is the same run as 300 in one go."""
    settings = [*TINY_SETTINGS[model], "train.batch_size=16", "train.schedule=constant",
                "train.warmup_steps=20", "train.eval_every=100", "train.log_every=100",
                "train.device=cpu", "data.eval_batch_size=16"]  # fmt: skip
    return [
        "train", "lm", "--model", model, "--data", str(data), "--steps", str(steps),
        *(arg for setting in settings for arg in ("--set", setting)), "--quiet", "--out", str(out),
    ]  # fmt: skip
