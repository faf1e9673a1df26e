"""The one measurement behind claims 1, 2 and 3: recall accuracy against distance for a vanilla
RNN, an LSTM, a GRU and a Transformer of the same parameter budget, and the gradient reaching
each input position.

The recall problem (seqlab.data.memory) shows ``distance`` random symbols and asks for the
first one after the last, so the information sits ``distance - 1`` steps before the answer.
Each family is trained on it with lab.compare's pieces (compare.match_model_size, the same
task, training settings and early stop at 99% validation accuracy, compare.verdict's words), but
unlike ``seqlab compare`` each family runs its own list of distances: a vanilla RNN need not
be trained at 1,000 when it fails from 20 on, and the Transformer's O(T^2) attention makes 1,000
expensive enough that the run plans for it. A run may get another step budget than
``steps`` (``step_limits``: family -> distance -> steps), which the numbers record beside it.

The gradient profile (lab.gradients.input_gradient_norms, after Bengio, Simard and Frasconi 1994
and Pascanu, Mikolov and Bengio 2013) is ||dL/dx_t|| against the distance from the answer, taken
for every family at ``gradient_distance``, at initialisation and after training.

The three claims share one run per settings: ``shared_measurement`` keeps the numbers in a
process-wide cache keyed by the settings, so ``seqlab claims`` pays for it once.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from seqlab.errors import SeqlabError
from seqlab.lab.claims.base import Settings
from seqlab.lab.compare import (
    FAMILY_ORDER,
    SOLVED,
    CompareSettings,
    TrainingJob,
    match_model_size,
    run_jobs,
)
from seqlab.lab.figures import LABELS

_CACHE: dict[str, dict[str, Any]] = {}


def compare_settings(settings: Settings) -> CompareSettings:
    """The recall-only CompareSettings shared by every run (steps: the default budget)."""
    try:
        return _compare_settings(settings)
    except ValueError as error:  # CompareSettings' own checks: distances, steps, jobs
        raise SeqlabError(f"claims settings: {error}") from None


def _compare_settings(settings: Settings) -> CompareSettings:
    return CompareSettings.from_knobs(
        settings,
        tasks=("recall",),
        families=tuple(family for family in FAMILY_ORDER if family in settings["distances"]),
        distances=tuple(sorted({d for ds in settings["distances"].values() for d in ds})),
    )


def steps_at(settings: Settings, family: str, distance: int) -> int:
    """The step budget of one run: ``step_limits[family][distance]`` where that is set."""
    limits = settings.get("step_limits", {}).get(family, {})
    return int(limits.get(str(distance), settings["steps"]))


def _check(settings: Settings) -> None:
    distances = settings["distances"]
    unknown = [family for family in distances if family not in FAMILY_ORDER]
    if unknown:
        raise SeqlabError(
            f"claims settings: distances names an unknown family '{unknown[0]}'; use "
            f"{', '.join(FAMILY_ORDER)}"
        )
    missing = [f for f, ds in distances.items() if settings["gradient_distance"] not in ds]
    if missing:
        raise SeqlabError(
            f"claims settings: gradient_distance {settings['gradient_distance']} is not among "
            f"the {missing[0]} distances; add it there or pick a distance every family runs"
        )


def measure_memory_distance(settings: Settings) -> dict[str, Any]:
    """Train every family at each of its distances (``settings["jobs"]`` runs at a time)."""
    _check(settings)
    base = compare_settings(settings)
    started = time.monotonic()
    torch.manual_seed(base.seed)
    sizes = {family: match_model_size(base, family) for family in base.families}
    scratch = Path(tempfile.mkdtemp(prefix="seqlab-claims-memory-"))
    plan = [(family, distance) for family in base.families
            for distance in sorted(settings["distances"][family])]  # fmt: skip
    # Longest runs first, so the two workers finish together instead of one waiting at the end.
    plan.sort(key=lambda job: (-job[1], job[0] != "transformer"))
    jobs = [
        TrainingJob(replace(base, steps=steps_at(settings, family, distance)), "recall",
                    distance, family, sizes[family][0], scratch / f"{family}-{distance}",
                    distance == settings["gradient_distance"])
        for family, distance in plan
    ]  # fmt: skip
    runs: dict[str, dict[str, Any]] = {family: {} for family in base.families}
    gradients: dict[str, dict[str, list[float]]] = {}
    chance = 0.0
    try:
        for _, (result, profile) in run_jobs(jobs, base.jobs):
            runs[result.family][str(result.distance)] = {
                "accuracy": result.value,
                "verdict": result.verdict,
                "solved": result.solved,
                "steps": result.steps,
                "step_budget": steps_at(settings, result.family, result.distance),
                "stop_reason": result.stop_reason,
                "seconds": round(result.seconds, 2),
            }
            chance = result.chance
            if profile is not None:
                gradients[result.family] = profile
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "families": list(base.families),
        "distances": {f: sorted(settings["distances"][f]) for f in base.families},
        "chance": chance,
        "solved_at": SOLVED["recall"],
        "runs": {f: dict(sorted(runs[f].items(), key=lambda kv: int(kv[0]))) for f in runs},
        "parameter_budget": base.parameter_budget,
        "parameters": {family: sizes[family][1] for family in base.families},
        "model_sizes": {family: sizes[family][0] for family in base.families},
        "gradient_distance": settings["gradient_distance"],
        "gradients": {family: gradients[family] for family in base.families},
        "init": base.init,
        "recurrent_init": base.recurrent_init,
        "batch_size": base.batch_size,
        "steps": base.steps,
        "step_limits": {f: dict(limits) for f, limits in settings.get("step_limits", {}).items()},
        "eval_examples": base.eval_examples,
        "seed": base.seed,
        "jobs": base.jobs,
        "seconds": round(time.monotonic() - started, 1),
    }


def shared_measurement(settings: Settings) -> dict[str, Any]:
    """``measure_memory_distance(settings)``, run once per settings in this process (each caller
    gets its own copy, so one claim's numbers cannot change another's)."""
    key = json.dumps(dict(settings), sort_keys=True)
    if key not in _CACHE:
        _CACHE[key] = measure_memory_distance(settings)
    return copy.deepcopy(_CACHE[key])


# ---- reading the numbers (for the rules and the figures) ----


def run_at(numbers: Mapping[str, Any], family: str, distance: int) -> Mapping[str, Any]:
    """One run's record: accuracy, verdict, solved, steps, step_budget, stop_reason, seconds."""
    return numbers["runs"][family][str(distance)]


def trained_at(numbers: Mapping[str, Any], family: str) -> list[int]:
    """The distances ``family`` was trained at (none when it was not trained)."""
    return [int(d) for d in numbers["runs"].get(family, {})]


def failed_at(numbers: Mapping[str, Any], family: str) -> list[int]:
    """The distances ``family`` did not solve."""
    return [d for d in trained_at(numbers, family) if not run_at(numbers, family, d)["solved"]]


def budget_words(numbers: Mapping[str, Any]) -> str:
    """The training budget in words, for reasons and figure titles."""
    longer = ", ".join(f"{LABELS[f]} {s} at d = {d}"
                       for f, limits in numbers["step_limits"].items()
                       for d, s in limits.items())  # fmt: skip
    return (
        f"step budget {numbers['steps']}" + (f" ({longer})" if longer else "")
        + f", batch {numbers['batch_size']}, seed {numbers['seed']}"
    )  # fmt: skip
