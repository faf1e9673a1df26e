"""seqlab: build, train, compare and serve recurrent networks and Transformers.

``import seqlab`` stays light: task modules load only when ``load`` is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def load(model_dir: str | Path) -> Any:
    """The Predictor for whatever task ``model_dir`` holds (read from its config.json)."""
    from seqlab.tasks import task_class
    from seqlab.tasks.runner import read_config

    config = read_config(model_dir)
    return task_class(str(config["task"])).load_predictor(Path(model_dir))


__all__ = ["__version__", "load"]
