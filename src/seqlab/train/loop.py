"""The training loop: one explicit function, ``fit``, in plain PyTorch.

References: Loshchilov & Hutter 2019 (AdamW); Vaswani et al. 2017, section 5.3 (warm-up
schedule, see ``schedules.py``); Pascanu et al. 2013 (clipping the global gradient norm);
Williams & Peng 1990 (truncated BPTT: carry the state, cut its graph); Micikevicius et al. 2018,
"Mixed Precision Training" (fp16 with loss scaling; bf16 needs none). DESIGN.md convention 8: no
hook framework, each feature is a few visible lines with the reason beside them.

One optimizer step, in order:
  1. ``grad_accum_steps`` micro-batches: forward via ``task.loss``, backward on the loss SUM;
  2. divide every gradient once by the total item count, so k accumulated micro-batches equal
     one k-times-larger batch exactly (a mean per micro-batch would weight items unequally);
  3. global-norm clipping; the pre-clip norm is logged;
  4. a non-finite loss or gradient skips the step: no optimizer or scheduler step, the carried
     state is rolled back, and ``max_nonfinite_steps`` skips in a row raise TrainingDiverged;
  5. AdamW step, then the schedule advances; with ``weight_average_decay`` the moving average of
     the weights is updated (``averaging.py``).
Every ``eval_every`` steps and at the end: evaluate "val" (on the averaged weights when there
are any), save ``checkpoints/best`` on improvement and ``checkpoints/last`` always, and stop
early after ``early_stopping_patience`` evaluations without improvement.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.train.averaging import WeightAverage
from seqlab.train.checkpoint import (
    CHECKPOINTS_DIR,
    checkpoint_path,
    find_checkpoint,
    load_training_checkpoint,
    save_training_checkpoint,
    save_weights_checkpoint,
)
from seqlab.train.config import TrainConfig
from seqlab.train.progress import ProgressKind, ProgressReporter, StepInfo, make_progress
from seqlab.train.protocol import StepLoss, TrainableTask, detach_state, move_to
from seqlab.train.schedules import build_scheduler
from seqlab.utils.config import to_dict
from seqlab.utils.io import append_jsonl, atomic_write_text
from seqlab.utils.seeding import capture_rng_state, restore_rng_state, seed_everything

__all__ = [
    "EvalRecord",
    "FitResult",
    "StopReason",
    "TrainingDiverged",
    "average_and_clip_gradients",
    "build_optimizer",
    "fit",
    "resolve_device",
]

StopReason = Literal["steps", "max_seconds", "early_stopping", "target_reached"]
LOG_FILE = "log.jsonl"
EVAL_SPLIT = "val"
# Settings that may change on resume without breaking "resumed == uninterrupted".
_RESUME_SAFE = frozenset(
    {"steps", "max_seconds", "eval_every", "log_every", "early_stopping_patience", "stop_at",
     "early_stopping_min_delta",
     "keep_checkpoints", "max_nonfinite_steps", "device", "threads"}
)  # fmt: skip


class TrainingDiverged(SeqlabError, RuntimeError):
    """The loss or gradients stayed non-finite for ``max_nonfinite_steps`` steps in a row.

    A SeqlabError: the command line prints its one-line message (what happened, where the last
    good checkpoint is, what to change) instead of a traceback.
    """


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation: the optimizer step it followed, the split and its metrics."""

    step: int
    split: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class FitResult:
    """What ``fit`` did. ``seconds`` is this call's wall-clock time; ``history`` spans resumes."""

    steps: int
    best_metric: float | None
    best_step: int | None
    stop_reason: StopReason
    seconds: float
    final_train_loss: float | None
    history: tuple[EvalRecord, ...]
    monitor: str
    mode: Literal["min", "max"]


@dataclass
class _RunState:
    """The loop's counters; saved in every checkpoint so resume continues them."""

    monitor: str
    mode: str
    step: int = 0
    next_batch_index: int = 0  # skipped steps consume batches too, so this is not step * accum
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    last_eval_step: int | None = None
    elapsed_seconds: float = 0.0  # summed over every fit call of this run
    last_train_loss: float | None = None
    history: list[EvalRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "step": self.step,
            "next_batch_index": self.next_batch_index,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "evals_without_improvement": self.evals_without_improvement,
            "last_eval_step": self.last_eval_step,
            "elapsed_seconds": self.elapsed_seconds,
            "last_train_loss": _float_to_json(self.last_train_loss),
            "history": [
                {
                    "step": record.step,
                    "split": record.split,
                    "metrics": {k: _float_to_json(v) for k, v in record.metrics.items()},
                }
                for record in self.history
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _RunState:
        history = [
            EvalRecord(
                step=int(item["step"]),
                split=str(item["split"]),
                metrics={k: _float_from_json(v) for k, v in item["metrics"].items()},
            )
            for item in data["history"]
        ]
        last_loss = data["last_train_loss"]
        return cls(
            monitor=data["monitor"],
            mode=data["mode"],
            step=int(data["step"]),
            next_batch_index=int(data["next_batch_index"]),
            best_metric=data["best_metric"],
            best_step=data["best_step"],
            evals_without_improvement=int(data["evals_without_improvement"]),
            last_eval_step=data["last_eval_step"],
            elapsed_seconds=float(data["elapsed_seconds"]),
            last_train_loss=None if last_loss is None else _float_from_json(last_loss),
            history=history,
        )


def _float_to_json(value: float | None) -> float | str | None:
    # Strict JSON has no NaN/inf, but a diverging metric is worth keeping: store it as text.
    if value is None or math.isfinite(value):
        return value
    return repr(value)  # "nan", "inf" or "-inf", which float() reads back


def _float_from_json(value: float | str) -> float:
    return float(value)


# ----------------------------------------------------------------------------------------------
# Set-up helpers
# ----------------------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """The torch device for a config name: "auto" is cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was requested but torch.cuda.is_available() is False; "
            "set train.device=cpu or train.device=auto"
        )
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device ({name!r}) must be 'auto', 'cpu' or 'cuda'")
    return torch.device(name)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; weight decay on matrices and embeddings only.

    Biases and normalization gains (parameters with fewer than 2 dimensions) get no decay:
    shrinking them toward zero only shifts or rescales activations and does not regularize
    (the nanoGPT / BERT practice). Parameter order follows ``model.parameters()``, which
    checkpoints rely on to match optimizer state to parameters.
    """
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not trainable:
        raise ValueError("the model has no parameter with requires_grad=True; nothing to train")
    decay = [parameter for parameter in trainable if parameter.dim() >= 2]
    no_decay = [parameter for parameter in trainable if parameter.dim() < 2]
    groups = [
        {"params": params, "weight_decay": weight_decay}
        for params, weight_decay in ((decay, config.weight_decay), (no_decay, 0.0))
        if params
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if not config.amp:
        return None
    if device.type != "cuda":
        warnings.warn(
            "train.amp is true but training runs on the CPU; mixed precision is off",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    # bf16 keeps fp32's exponent range, so it needs no loss scaling; older GPUs only have fp16.
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _make_grad_scaler() -> Any:
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # torch < 2.3


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


@contextlib.contextmanager
def _evaluation_mode(model: nn.Module) -> Iterator[None]:
    # Evaluation must not change training: eval mode (no dropout), no graph, and every RNG put
    # back afterwards, so a run evaluating more often still trains exactly the same weights.
    rng = capture_rng_state()
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train()
        restore_rng_state(rng)


def _evaluate(model: nn.Module, task: TrainableTask, monitor: str) -> dict[str, float]:
    with _evaluation_mode(model):
        raw = task.evaluate(model, EVAL_SPLIT)
    if not isinstance(raw, dict):
        raise TypeError(f"task.evaluate must return a dict of metrics, got {type(raw).__name__}")
    metrics = {str(name): float(value) for name, value in raw.items()}
    if monitor not in metrics:
        raise ValueError(
            f"monitored metric '{monitor}' is not among task.evaluate's metrics "
            f"({', '.join(sorted(metrics))}); pass monitor= one of them"
        )
    return metrics


def _improved(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def _global_grad_norm(parameters: list[nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def average_and_clip_gradients(
    parameters: list[nn.Parameter], *, count: int, grad_clip: float | None
) -> float:
    """Turn summed gradients into mean gradients, clip them, and return the pre-clip norm.

    The gradients hold d(sum of item losses); dividing once by ``count`` (the items of every
    accumulated micro-batch) makes them the mean over all items, exactly what one big batch
    gives. Then, when ``grad_clip`` is set, the global L2 norm over all parameters is scaled
    down to ``grad_clip`` if larger (Pascanu et al. 2013). The returned norm may be inf/NaN.
    """
    if count <= 0:
        raise ValueError(f"count ({count}) must be positive to average the gradients")
    for parameter in parameters:
        if parameter.grad is not None:
            parameter.grad.div_(count)
    if grad_clip is not None:
        return float(nn.utils.clip_grad_norm_(parameters, max_norm=grad_clip))
    return float(_global_grad_norm(parameters))


def _warn_changed_settings(saved: dict[str, Any] | None, config: TrainConfig) -> None:
    if saved is None:
        return
    current = to_dict(config)
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
            stacklevel=3,
        )


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------


def fit(
    model: nn.Module,
    task: TrainableTask,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    monitor: str = "loss",
    mode: Literal["min", "max"] = "min",
    resume: bool = False,
    progress: ProgressReporter | ProgressKind = "auto",
) -> FitResult:
    """Train ``model`` on ``task`` per ``config``; logs and checkpoints go to ``out_dir``.

    monitor / mode: the metric of ``task.evaluate(model, "val")`` that decides the best
        checkpoint and early stopping, and whether lower ("min") or higher ("max") is better.
    resume: continue from ``out_dir/checkpoints/last`` (model, optimizer, scheduler, RNGs,
        counters, carried state). Without it, ``out_dir`` must not hold checkpoints yet.
    progress: a reporter, or "auto" (a bar on a terminal, lines otherwise), "rich", "plain",
        "quiet".

    The model ends with its final weights; ``load_best_weights(model, out_dir)`` loads the best.
    ``max_seconds`` limits this call's wall-clock time (checked before each step; the final
    evaluation still runs). Raises TrainingDiverged after ``max_nonfinite_steps`` consecutive
    non-finite steps, leaving ``checkpoints/last`` as it was.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode ({mode!r}) must be 'min' or 'max'")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    stateful = _check_task(task)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last_dir, best_dir = checkpoint_path(out, "last"), checkpoint_path(out, "best")
    log_path = out / LOG_FILE

    device = resolve_device(config.device)
    amp_dtype = _amp_dtype(config, device)
    # Seed first: a fresh run is then a function of config.seed; a resumed run overwrites every
    # generator with the checkpoint's states below.
    seed_everything(config.seed)
    model.to(device)
    model.train()
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = build_optimizer(model, config)
    average = (
        WeightAverage(model, config.weight_average_decay)
        if config.weight_average_decay is not None
        else None
    )
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
            stacklevel=2,
        )
    # fp16 underflows small gradients unless the loss is scaled up first; bf16 does not.
    scaler = _make_grad_scaler() if amp_dtype == torch.float16 else None
    config_json = to_dict(config)

    carried: Any = None
    if resume:
        loaded = load_training_checkpoint(
            last_dir, model=model, optimizer=optimizer, scheduler=scheduler, device=device
        )
        run = _RunState.from_json(loaded.progress)
        if (run.monitor, run.mode) != (monitor, mode):
            raise ValueError(
                f"the run in {out} monitored '{run.monitor}' ({run.mode}); resume with "
                f"monitor='{run.monitor}', mode='{run.mode}' (got '{monitor}', '{mode}')"
            )
        _warn_changed_settings(loaded.config, config)
        carried = loaded.carried_state if stateful else None
        if average is not None:
            average.load_state_tensors(loaded.averaged_weights)
        append_jsonl(log_path, {"event": "resume", "step": run.step})
    else:
        existing = [p for p in (last_dir, best_dir) if find_checkpoint(p) is not None]
        if existing:
            names = ", ".join(path.name for path in existing)
            raise FileExistsError(
                f"{out / CHECKPOINTS_DIR} already holds a run ({names}); pass resume=True to "
                "continue it, or choose another out_dir"
            )
        run = _RunState(monitor=monitor, mode=mode)
        atomic_write_text(log_path, "")
        append_jsonl(log_path, {"event": "start", "step": 0, "config": config_json})

    def save_last() -> None:
        run.elapsed_seconds = elapsed_before + (time.monotonic() - started)
        save_training_checkpoint(
            last_dir,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            progress=run.to_json(),
            carried_state=carried,
            config=config_json,
            averaged_weights=None if average is None else average.state_tensors(),
        )

    def evaluate_and_checkpoint() -> StopReason | None:
        """Evaluate "val", update best/last checkpoints; a stop reason when training should end
        (patience has run out, or the monitored metric reached ``config.stop_at``)."""
        with average.swapped_in() if average is not None else contextlib.nullcontext():
            metrics = _evaluate(model, task, monitor)
            run.history.append(EvalRecord(step=run.step, split=EVAL_SPLIT, metrics=metrics))
            run.last_eval_step = run.step
            value = metrics[monitor]
            if _improved(value, run.best_metric, mode):
                # Patience restarts only for a gain larger than min_delta, so evaluation noise
                # that nudges the best up by a hair does not keep a stalled run alive.
                gain = math.inf if run.best_metric is None else abs(value - run.best_metric)
                significant = gain > config.early_stopping_min_delta
                run.best_metric, run.best_step = value, run.step
                run.evals_without_improvement = (
                    0 if significant else run.evals_without_improvement + 1
                )
                save_weights_checkpoint(best_dir, model=model, progress=run.to_json())
            else:
                run.evals_without_improvement += 1
        save_last()
        elapsed = elapsed_before + (time.monotonic() - started)
        append_jsonl(
            log_path,
            {"event": "eval", "step": run.step, "split": EVAL_SPLIT, "metrics": metrics,
             "elapsed": elapsed},
        )  # fmt: skip
        shown = ", ".join(f"{name} {metric:.4g}" for name, metric in metrics.items())
        reporter.note(
            f"eval step {run.step} [{EVAL_SPLIT}] {shown} | best {monitor} "
            f"{run.best_metric if run.best_metric is None else f'{run.best_metric:.4g}'} "
            f"at step {run.best_step}"
        )
        target = config.stop_at
        if target is not None and math.isfinite(value) and not _improved(target, value, mode):
            return "target_reached"  # nothing left to learn: the value is at or past the target
        patience = config.early_stopping_patience
        if patience is not None and run.evals_without_improvement >= patience:
            return "early_stopping"
        return None

    started = time.monotonic()
    elapsed_before = run.elapsed_seconds
    if not resume:
        # A checkpoint before the first step, so even a run that diverges at once leaves
        # checkpoints/last to return to.
        save_last()
    reporter = make_progress(progress) if isinstance(progress, str) else progress
    reporter.start(total_steps=config.steps, initial_step=run.step)
    nonfinite_in_a_row = 0
    window_start, window_steps, window_tokens = time.monotonic(), 0, 0
    stop_reason: StopReason | None = None
    autocast = (
        (lambda: torch.autocast(device_type=device.type, dtype=amp_dtype))
        if amp_dtype is not None
        else contextlib.nullcontext
    )
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        while stop_reason is None:
            # Budgets are checked before a step so that a stop always falls between steps.
            if run.step >= config.steps:
                stop_reason = "steps"
                break
            if config.max_seconds is not None and time.monotonic() - started >= config.max_seconds:
                stop_reason = "max_seconds"
                break

            # 1. Accumulate grad_accum_steps micro-batches; backward on each loss SUM.
            optimizer.zero_grad(set_to_none=True)
            state_before = carried
            first_batch = run.next_batch_index
            loss_sum = torch.zeros((), device=device, dtype=torch.float64)
            count = tokens = 0
            for micro in range(config.grad_accum_steps):
                batch = move_to(task.train_batch(first_batch + micro), device)
                with autocast():
                    out_loss = task.loss(model, batch, carried if stateful else None)
                if not isinstance(out_loss, StepLoss):
                    raise TypeError(
                        f"task.loss must return a StepLoss, got {type(out_loss).__name__}"
                    )
                if not out_loss.loss_sum.requires_grad:
                    raise ValueError(
                        "StepLoss.loss_sum does not require grad; compute it from the model's "
                        "output in training mode, not under torch.no_grad()"
                    )
                if stateful:
                    # Truncated BPTT: keep the state's values, drop its graph.
                    carried = detach_state(out_loss.state)
                if scaler is not None:
                    scaler.scale(out_loss.loss_sum).backward()
                else:
                    out_loss.loss_sum.backward()
                loss_sum += out_loss.loss_sum.detach().to(torch.float64)
                count += out_loss.count
                tokens += out_loss.tokens
            # The batches are consumed even if the step is skipped, so a bad batch is not retried.
            run.next_batch_index = first_batch + config.grad_accum_steps
            train_loss_sum = float(loss_sum)  # one device sync per step
            finite = math.isfinite(train_loss_sum)
            grad_norm = math.nan
            if finite:
                if count <= 0:
                    raise ValueError(
                        f"task.loss reported count 0 for all {config.grad_accum_steps} "
                        f"micro-batches of batches {first_batch}..{run.next_batch_index - 1}; "
                        "count must be the number of items the loss sum covers"
                    )
                if scaler is not None:
                    scaler.unscale_(optimizer)
                # 2-3. Average over every item of every micro-batch, clip the global norm.
                grad_norm = average_and_clip_gradients(
                    parameters, count=count, grad_clip=config.grad_clip
                )
                finite = math.isfinite(grad_norm)

            # 4. Non-finite loss or gradient: skip the step and leave no trace of it.
            if not finite:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None and math.isfinite(train_loss_sum):
                    scaler.update()  # lowers the fp16 loss scale after an overflow
                carried = state_before  # a NaN state would poison every later segment
                nonfinite_in_a_row += 1
                batches = f"{first_batch}..{run.next_batch_index - 1}"
                warnings.warn(
                    f"step {run.step + 1} skipped: loss sum {train_loss_sum} / gradient norm "
                    f"{grad_norm} not finite on batches {batches} "
                    f"({nonfinite_in_a_row}/{config.max_nonfinite_steps} in a row)",
                    RuntimeWarning,
                    stacklevel=2,
                )
                append_jsonl(
                    log_path,
                    {"event": "nonfinite", "step": run.step + 1, "batches": batches,
                     "loss": train_loss_sum, "grad_norm": grad_norm,
                     "in_a_row": nonfinite_in_a_row},
                )  # fmt: skip
                if nonfinite_in_a_row >= config.max_nonfinite_steps:
                    saved = find_checkpoint(last_dir)
                    saved_step = run.step if saved is None else _saved_step(saved)
                    raise TrainingDiverged(
                        f"training diverged: loss or gradient not finite for {nonfinite_in_a_row} "
                        f"steps in a row (after step {run.step}, batches up to "
                        f"{run.next_batch_index - 1}); the last good checkpoint in {last_dir} "
                        f"(step {saved_step}) is intact; lower train.lr, set train.grad_clip, "
                        "or check the data"
                    )
                continue

            # 5. Optimizer step, then the schedule moves to the next step's learning rate.
            lr = optimizer.param_groups[0]["lr"]
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            run.step += 1
            if average is not None:
                average.update(run.step)
            nonfinite_in_a_row = 0
            run.last_train_loss = train_loss_sum / count

            # Throughput over the current window (reset after evaluations, which are not training).
            window_steps += 1
            window_tokens += tokens
            now = time.monotonic()
            window_seconds = max(now - window_start, 1e-9)
            info = StepInfo(
                step=run.step,
                total_steps=config.steps,
                loss=run.last_train_loss,
                lr=lr,
                grad_norm=grad_norm,
                tokens_per_second=window_tokens / window_seconds,
                elapsed_seconds=elapsed_before + (now - started),
                eta_seconds=(config.steps - run.step) * window_seconds / window_steps,
            )
            reporter.step(info)
            if run.step % config.log_every == 0:
                append_jsonl(
                    log_path,
                    {"event": "train", "step": run.step, "loss": info.loss, "lr": lr,
                     "grad_norm": grad_norm, "tokens_per_second": info.tokens_per_second,
                     "elapsed": info.elapsed_seconds},
                )  # fmt: skip
                reporter.log(info)
                window_start, window_steps, window_tokens = time.monotonic(), 0, 0

            if run.step % config.eval_every == 0:
                stop_reason = evaluate_and_checkpoint()
                window_start, window_steps, window_tokens = time.monotonic(), 0, 0

        # The end: evaluate unless this step was just evaluated (that also saved last).
        if run.last_eval_step != run.step:
            evaluate_and_checkpoint()
        reporter.note(f"stopped at step {run.step}: {stop_reason}")
        append_jsonl(log_path, {"event": "stop", "step": run.step, "reason": stop_reason})
    finally:
        reporter.close()
        torch.set_num_threads(threads_before)

    if not config.keep_checkpoints and find_checkpoint(best_dir) is not None:
        # The resume state (optimizer moments, RNGs) is the bulk; best/ keeps the weights.
        shutil.rmtree(last_dir, ignore_errors=True)
    return FitResult(
        steps=run.step,
        best_metric=run.best_metric,
        best_step=run.best_step,
        stop_reason=stop_reason,
        seconds=time.monotonic() - started,
        final_train_loss=run.last_train_loss,
        history=tuple(run.history),
        monitor=monitor,
        mode=mode,
    )


def _saved_step(folder: Path) -> int | str:
    import json

    try:
        info = json.loads((folder / "trainer.json").read_text(encoding="utf-8"))
        return int(info["progress"]["step"])
    except (OSError, ValueError, KeyError):
        return "unknown"
