"""What the service holds: the loaded models by name, the settings, the metrics, one executor for
model work and one batcher per model and kind of call.

Models run in one executor thread: two batches at once on a 2-core machine would only split the
cores torch already uses inside one batch, and one thread keeps a model's state (a stream's
recurrent state, a generation's cache) single-threaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.serve.batcher import DynamicBatcher
from seqlab.serve.errors import ApiError
from seqlab.serve.metrics import ServiceMetrics
from seqlab.serve.settings import ServeSettings


@dataclass
class LoadedModel:
    """name: how requests pick it (``?model=NAME``); predictor: what ``seqlab.load`` returned."""

    name: str
    predictor: Any
    model_dir: Path
    dtype: str = "float32"  # what its weights run in (serve.precision)

    def __post_init__(self) -> None:
        if self.predictor.config.get("quantization"):  # a `seqlab export --format int8` directory
            self.dtype = "int8"

    @property
    def task(self) -> str:
        return str(self.predictor.config["task"])

    @property
    def family(self) -> str:
        return str(self.predictor.config.get("model", {}).get("family", "?"))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "family": self.family, "dtype": self.dtype}


@dataclass(eq=False)
class ServiceState:
    models: dict[str, LoadedModel]
    settings: ServeSettings
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqlab-model")
    )
    batchers: dict[tuple[str, str], DynamicBatcher[Any, Any]] = field(default_factory=dict)
    ready: bool = False

    def model_for(self, task: str, name: str | None) -> LoadedModel:
        """The model a request for ``task`` names, or the first loaded one of that task; 404
        with the list of loaded models when there is none."""
        if name is not None:
            model = self.models.get(name)
            if model is None:
                message = f"no model named {name!r}; {self.loaded_summary()}"
                raise ApiError(404, "ModelNotFound", message, field="model")
            if model.task != task:
                raise ApiError(
                    404,
                    "ModelNotFound",
                    f"model {name!r} is a {model.task} model, not {task}; {self.loaded_summary()}",
                    field="model",
                )
            return model
        for model in self.models.values():
            if model.task == task:
                return model
        raise ApiError(404, "ModelNotFound", f"no {task} model is loaded; {self.loaded_summary()}")

    def loaded_summary(self, *, families: bool = False) -> str:
        """ "loaded: NAME (TASK), ..." for error messages; ``families`` adds each model's family
        (where it matters which are Transformers)."""
        if not self.models:
            return "no model is loaded"
        described = (
            f"{m.name} ({m.task}, {m.family})" if families else f"{m.name} ({m.task})"
            for m in self.models.values()
        )
        return "loaded: " + ", ".join(described)

    def batcher(
        self, model: LoadedModel, kind: str, run_batch: Callable[[list[Any]], Sequence[Any]]
    ) -> DynamicBatcher[Any, Any]:
        """The batcher for one model and one kind of call (``predict``, ``translate``, ...),
        made on first use. With ``settings.batching`` off every item runs alone."""
        key = (model.name, kind)
        if key not in self.batchers:
            settings = self.settings
            self.batchers[key] = DynamicBatcher(
                f"{model.name}/{kind}",
                run_batch,
                executor=self.executor,
                metrics=self.metrics,
                max_batch_size=settings.max_batch_size if settings.batching else 1,
                max_batch_tokens=settings.max_batch_tokens,
                max_wait_s=settings.max_wait_ms / 1000 if settings.batching else 0.0,
                queue_size=settings.queue_size,
            )
        return self.batchers[key]

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.close()
        self.executor.shutdown(wait=True)


def parse_model_spec(spec: str) -> tuple[str, Path]:
    """``NAME=DIR`` or ``DIR`` (named after the directory's last part)."""
    name, separator, directory = spec.partition("=")
    if separator and name and "/" not in name:
        return name, Path(directory)
    path = Path(spec)
    return path.resolve().name, path


def load_models(specs: Iterable[str]) -> dict[str, LoadedModel]:
    """Load every model directory (``NAME=DIR`` or ``DIR``); two models of one name are refused."""
    import seqlab

    models: dict[str, LoadedModel] = {}
    for spec in specs:
        name, directory = parse_model_spec(spec)
        if name in models:
            raise SeqlabError(
                f"two models are named {name!r} ({models[name].model_dir} and {directory}); "
                f"name them with NAME=DIR"
            )
        models[name] = LoadedModel(name=name, predictor=seqlab.load(directory), model_dir=directory)
    return models
