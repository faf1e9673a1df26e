"""seqlab: build, train, compare and serve recurrent networks and Transformers.

``import seqlab`` stays light: task modules load only when ``load`` is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab._version import __version__


def load(model_dir: str | Path) -> Any:
    """The Predictor for whatever task ``model_dir`` holds (read from its config.json).

    A directory that cannot be loaded (a missing or damaged file, a config.json edited out of
    shape, weights of another model) raises ``seqlab.errors.SeqlabError``, whose one line names
    the file and the fix (seqlab.tasks.runner.load_trained)."""
    from seqlab.model_dir import ModelDir
    from seqlab.tasks import task_class
    from seqlab.tasks.directory_checks import read_model_config

    directory = ModelDir(model_dir)
    config = read_model_config(directory)  # read once: the task's predictor is built from it
    return task_class(config["task"]).load_predictor(directory, config)


__all__ = ["__version__", "load"]
