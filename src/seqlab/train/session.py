"""What one ``fit`` call works with (``TrainingSession``), and how ``fit`` sets it up.

References: Micikevicius et al. 2018, "Mixed Precision Training" (fp16 needs loss scaling; bf16
keeps fp32's exponent range and needs none); ``seqlab.utils.seeding`` (which generator seeds
what); ``checkpoint.py`` (the resume state).

``start_session`` does, in order: check the arguments and the task; pick the device and the
mixed-precision type; seed every generator with ``config.seed``; move the model, and build the
optimizer, the schedule, the fp16 loss scaler and the weight average; then either restore
``checkpoints/last`` (resume; the checkpoints to average that are newer than it are dropped, see
``checkpoint_averaging.py``) or start the log and save ``checkpoints/last`` before the first
step (fresh); last, start the progress reporter. The loop's other functions (``step.py``,
``evaluation.py``, ``loop.py``) take the session as their one argument.

Under ``torchrun`` (``distributed.py``) the session knows its ``world``: every rank builds it
alike and starts from rank 0's weights, but only rank 0 creates the directory, writes the log
and checkpoints and shows progress; a resume reads ``checkpoints/last`` on every rank (on
several machines the directory must be on a filesystem they share).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from seqlab.errors import SeqlabError
from seqlab.model_dir import CHECKPOINTS, CHECKPOINTS_RECENT, ModelDir
from seqlab.train.averaging import WeightAverage
from seqlab.train.checkpoint import (
    find_checkpoint,
    load_training_checkpoint,
    save_training_checkpoint,
)
from seqlab.train.checkpoint_averaging import discard_recent_after, recent_checkpoints
from seqlab.train.config import TrainConfig
from seqlab.train.distributed import World, broadcast_module_state, check_batch_size, gather
from seqlab.train.optim import build_optimizer
from seqlab.train.progress import ProgressKind, ProgressReporter, QuietProgress, make_progress
from seqlab.train.protocol import TrainableTask
from seqlab.train.run_state import RunState
from seqlab.train.schedules import build_scheduler
from seqlab.utils.config import to_dict
from seqlab.utils.io import append_jsonl, atomic_write_text
from seqlab.utils.seeding import seed_everything

__all__ = ["ThroughputWindow", "TrainingSession", "resolve_device", "start_session"]

# Settings that may change on resume without breaking "resumed == uninterrupted".
_RESUME_SAFE = frozenset(
    {"steps", "max_seconds", "eval_every", "log_every", "early_stopping_patience", "stop_at",
     "early_stopping_min_delta",
     "keep_checkpoints", "max_nonfinite_steps", "device", "threads"}
)  # fmt: skip

# Warnings point at the line that called fit: stack level 1 is the helper that warns, 2
# start_session, 3 loop._fit, 4 fit, 5 fit's caller.
_FIT_CALLER = 5


@dataclass
class ThroughputWindow:
    """The optimizer steps and tokens since ``start`` (monotonic seconds): the rates shown."""

    start: float = field(default_factory=time.monotonic)
    steps: int = 0
    tokens: int = 0

    def restart(self) -> None:
        self.start, self.steps, self.tokens = time.monotonic(), 0, 0


@dataclass
class TrainingSession:
    """One ``fit`` call's model, task, optimizer, files and counters, passed to every step.

    Training changes the model, optimizer, scheduler, scaler and average in place; of the
    session's own fields only ``run`` (the counters checkpoints save), ``carried`` (the
    recurrent state a stateful task carries into its next micro-batch), ``nonfinite_in_a_row``
    and ``window`` are reassigned after ``start_session``.
    """

    model: nn.Module
    task: TrainableTask
    config: TrainConfig
    stateful: bool  # task.stateful, checked once
    device: torch.device
    amp_dtype: torch.dtype | None  # None: full precision
    parameters: list[nn.Parameter]  # the trainable ones, in model.parameters() order
    optimizer: torch.optim.AdamW
    scheduler: LRScheduler
    scaler: Any  # torch's GradScaler for fp16, else None
    average: WeightAverage | None
    directory: ModelDir  # fit's out_dir
    config_json: dict[str, Any]  # the config as the log and the checkpoints record it
    run: RunState
    reporter: ProgressReporter
    carried: Any = None
    nonfinite_in_a_row: int = 0
    started: float = field(default_factory=time.monotonic)  # when this call's training began
    elapsed_before: float = 0.0  # the run's wall-clock seconds in earlier (resumed) calls
    window: ThroughputWindow = field(default_factory=ThroughputWindow)
    world: World = field(default_factory=World)  # the training processes; one by default

    @property
    def last_dir(self) -> Path:
        return self.directory.checkpoint_path("last")

    @property
    def best_dir(self) -> Path:
        return self.directory.checkpoint_path("best")

    @property
    def log_path(self) -> Path:
        return self.directory.log_path

    def autocast(self) -> AbstractContextManager[Any]:
        """The mixed-precision context of a forward pass (a no-op in full precision)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def elapsed(self) -> float:
        """The run's wall-clock seconds so far, earlier calls included."""
        return self.elapsed_before + (time.monotonic() - self.started)

    def log(self, record: dict[str, Any]) -> None:
        """Append ``record`` to log.jsonl (rank 0 alone writes)."""
        if self.world.is_main:
            append_jsonl(self.log_path, record)

    def save_last(self) -> None:
        """Save the full training state to ``checkpoints/last``, what resume starts from.

        Called on every rank: with several processes a stateful task's carried states, one per
        rank (each carries its own rows), are gathered and saved as a list in rank order."""
        carried = self.carried
        if self.world.distributed and self.stateful:
            carried = gather(_to_cpu(carried), self.world)
        if not self.world.is_main:
            return
        self.run.elapsed_seconds = self.elapsed()
        save_training_checkpoint(
            self.last_dir,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            progress=self.run.to_json(),
            carried_state=carried,
            config=self.config_json,
            averaged_weights=None if self.average is None else self.average.state_tensors(),
        )


def start_session(
    model: nn.Module,
    task: TrainableTask,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    monitor: str,
    mode: Literal["min", "max"],
    resume: bool,
    progress: ProgressReporter | ProgressKind,
) -> TrainingSession:
    """Set up ``fit``'s training (the order is in the module docstring); arguments as fit's."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode ({mode!r}) must be 'min' or 'max'")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    stateful = _check_task(task)
    world = World.current()
    options = getattr(task, "options", None)  # a seqlab Task's; a bare engine task has none
    if getattr(options, "batches_by_rows", True):
        check_batch_size(config.batch_size, world)
    directory = ModelDir(Path(out_dir))
    if world.is_main:
        directory.create()
    device = world.device_for(resolve_device(config.device))
    amp_dtype = _amp_dtype(config, device)
    # Seed before training: a fresh run is then a function of config.seed, however many draws
    # building the model took; a resumed run overwrites every generator with the checkpoint's.
    seed_everything(config.seed)
    model.to(device)
    model.train()
    # Every rank starts from rank 0's weights, so one set of gradients keeps them equal.
    broadcast_module_state(model, world)
    optimizer = build_optimizer(model, config)
    decay = config.weight_average_decay
    session = TrainingSession(
        model=model,
        task=task,
        config=config,
        stateful=stateful,
        device=device,
        amp_dtype=amp_dtype,
        parameters=[parameter for parameter in model.parameters() if parameter.requires_grad],
        optimizer=optimizer,
        scheduler=_build_schedule(optimizer, config),
        # fp16 underflows small gradients unless the loss is scaled up first; bf16 does not.
        scaler=_make_grad_scaler() if amp_dtype == torch.float16 else None,
        average=None if decay is None else WeightAverage(model, decay),
        directory=directory,
        config_json=to_dict(config),
        run=RunState(monitor=monitor, mode=mode, world_size=world.size),
        reporter=_reporter(progress, world),
        world=world,
    )
    if resume:
        _restore_last_checkpoint(session)
    else:
        _start_fresh_run(session)
    session.started, session.elapsed_before = time.monotonic(), session.run.elapsed_seconds
    if not resume:
        # A checkpoint before the first step, so even a run that diverges at once leaves
        # checkpoints/last to return to.
        session.save_last()
    session.reporter.start(total_steps=config.steps, initial_step=session.run.step)
    session.window.restart()
    return session


def resolve_device(name: str) -> torch.device:
    """The torch device for a config name: "auto" is cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SeqlabError(
            "train.device is 'cuda' but torch finds no CUDA device on this machine "
            "(torch.cuda.is_available() is False); pass --device cpu or --device auto "
            "(train.device=cpu or auto)"
        )
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device ({name!r}) must be 'auto', 'cpu' or 'cuda'")
    return torch.device(name)


def _reporter(progress: ProgressReporter | ProgressKind, world: World) -> ProgressReporter:
    if not world.is_main:
        return QuietProgress()  # rank 0 shows the run's progress
    return make_progress(progress) if isinstance(progress, str) else progress


def _to_cpu(state: Any) -> Any:
    """A carried state's tensors on the CPU, in the same containers (to gather them)."""
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, tuple):
        items = [_to_cpu(item) for item in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if isinstance(state, list):
        return [_to_cpu(item) for item in state]
    if isinstance(state, dict):
        return {key: _to_cpu(item) for key, item in state.items()}
    return state


def _check_task(task: Any) -> bool:
    missing = [
        name for name in ("train_batch", "loss", "evaluate", "stateful") if not hasattr(task, name)
    ]
    if missing or not isinstance(task, TrainableTask):
        raise TypeError(
            f"task {type(task).__name__} lacks {', '.join(missing) or 'a TrainableTask member'}; "
            "it must implement seqlab.train.TrainableTask (train_batch, loss, evaluate, stateful)"
        )
    stateful = task.stateful
    if not isinstance(stateful, bool):
        raise TypeError(f"task.stateful must be a bool, got {stateful!r}")
    return stateful


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if not config.amp:
        return None
    if device.type != "cuda":
        warnings.warn(
            "train.amp is true but training runs on the CPU; mixed precision is off",
            RuntimeWarning,
            stacklevel=_FIT_CALLER,
        )
        return None
    # bf16 keeps fp32's exponent range, so it needs no loss scaling; older GPUs only have fp16.
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _make_grad_scaler() -> Any:
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # torch < 2.3


def _build_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig) -> LRScheduler:
    scheduler = build_scheduler(
        optimizer,
        schedule=config.schedule,
        warmup_steps=config.warmup_steps,
        total_steps=config.steps,
        min_lr_ratio=config.min_lr_ratio,
    )
    if config.schedule == "inverse_sqrt" and config.warmup_steps > config.steps:
        warnings.warn(
            f"warmup_steps ({config.warmup_steps}) exceeds steps ({config.steps}): the learning "
            f"rate only reaches {config.steps / config.warmup_steps:.2f} x lr",
            RuntimeWarning,
            stacklevel=_FIT_CALLER,
        )
    return scheduler


def _start_fresh_run(session: TrainingSession) -> None:
    """Refuse a directory that holds a run already; start the log with the config."""
    if not session.world.is_main:
        return
    folders = (session.last_dir, session.best_dir)
    existing = [path for path in folders if find_checkpoint(path) is not None]
    if recent_checkpoints(session.directory.path):
        existing.append(session.directory.checkpoints_path / CHECKPOINTS_RECENT)
    if existing:
        names = ", ".join(path.name for path in existing)
        raise FileExistsError(
            f"{session.directory.path / CHECKPOINTS} already holds a run ({names}); pass "
            "resume=True to continue it, or choose another out_dir"
        )
    atomic_write_text(session.log_path, "")
    append_jsonl(session.log_path, {"event": "start", "step": 0, "config": session.config_json})


def _restore_last_checkpoint(session: TrainingSession) -> None:
    """Load ``checkpoints/last`` into the session: weights, optimizer, schedule, every RNG,
    counters, carried state and weight average; drop the checkpoints to average that are newer."""
    loaded = load_training_checkpoint(
        session.last_dir,
        model=session.model,
        optimizer=session.optimizer,
        scheduler=session.scheduler,
        device=session.device,
    )
    run, asked = RunState.from_json(loaded.progress), session.run
    if (run.monitor, run.mode) != (asked.monitor, asked.mode):
        raise ValueError(
            f"the run in {session.directory.path} monitored '{run.monitor}' ({run.mode}); resume "
            f"with monitor='{run.monitor}', mode='{run.mode}' (got '{asked.monitor}', "
            f"'{asked.mode}')"
        )
    _warn_changed_settings(loaded.config, session.config)
    world = session.world
    session.carried = _carried_share(session, loaded.carried_state, saved_world=run.world_size)
    run.world_size = world.size
    session.run = run
    if world.is_main:
        # Checkpoints to average written after last/ (a crash fell in between) are written
        # again by the resumed run; a kept average no longer holds once training continues.
        discard_recent_after(session.directory.path, run.step)
    if session.average is not None:
        session.average.load_state_tensors(loaded.averaged_weights)
    session.log({"event": "resume", "step": run.step})


def _carried_share(session: TrainingSession, carried: Any, *, saved_world: int) -> Any:
    """This rank's carried state from a checkpoint: the state itself when one process saved
    it, the rank's entry of the saved list when several did. A stateful run can only resume on
    as many processes as it was saved from: each carried the state of its own rows.
    Stateless tasks resume on any number (the global batch, and so the step, is the same)."""
    if not session.stateful:
        return None
    world = session.world
    if carried is not None and saved_world != world.size:
        raise SeqlabError(
            f"the run in {session.directory.path} was trained on {saved_world} process(es) and "
            f"carries a recurrent state for each; resume it on {saved_world} (torchrun "
            f"--nproc_per_node {saved_world}), not {world.size}"
        )
    if saved_world > 1 and carried is not None:
        return carried[world.rank]
    return carried


def _warn_changed_settings(saved: dict[str, Any] | None, config: TrainConfig) -> None:
    if saved is None:
        return
    current = to_dict(config)
    # A field newer than the saved run was at its default there.
    saved = {**to_dict(TrainConfig()), **saved}
    # A decaying schedule is stretched over `steps`, so a new budget changes every later rate.
    decays = config.schedule in ("cosine", "linear")
    changed = [
        f"{key} {saved.get(key)!r} -> {value!r}"
        for key, value in current.items()
        if (key not in _RESUME_SAFE or (key == "steps" and decays)) and saved.get(key) != value
    ]
    if changed:
        warnings.warn(
            f"resuming with changed settings ({'; '.join(changed)}); the run will differ from "
            "an uninterrupted one",
            RuntimeWarning,
            stacklevel=_FIT_CALLER + 1,  # one frame deeper: via _restore_last_checkpoint
        )
