"""seqlab: build, train, compare and serve recurrent networks and Transformers.

``import seqlab`` stays light: task modules load only when ``load`` is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab._version import __version__


def load(model_dir: str | Path) -> Any:
    """The Predictor for whatever task ``model_dir`` holds (read from its config.json)."""
    from seqlab.model_dir import ModelDir
    from seqlab.tasks import task_class

    directory = ModelDir(model_dir)
    config = directory.read_config()  # read once: the task's predictor is built from it
    return task_class(str(config["task"])).load_predictor(directory, config)


__all__ = ["__version__", "load"]
