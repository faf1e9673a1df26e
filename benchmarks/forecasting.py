"""Forecasting on ETTh1 or another series: test MSE of every family beside the baselines.

Each model is trained by the ``seqlab train forecasting`` command printed below its table, so any
figure can be reproduced by pasting that command. The settings follow the literature's ETTh1
protocol (12/4/4 months, z-scores fitted on train, MSE and MAE on the normalised scale); a
setting is named FEATURES-INPUT-HORIZON:

- ``S-168-24``: univariate (oil temperature only), one week in, one day out;
- ``M-168-24``: all 7 variables in and out (MSE averaged over them), one week in, one day out;
- ``M-96-96``: all 7 variables, 96 hours in and out (the setting of DLinear and iTransformer).

The baselines (repeat the last value, the same hour a day and a week earlier, and the
least-squares maps of the window, linear and whichever others the report fits) come from the
same report, on the same test windows; they are fitted on the training windows only, so they do
not depend on the seed and are read from the first run. Each family is compared with the best
baseline (lowest test MSE) of its setting.

``--long-horizon`` runs M-96-96, M-96-192, M-96-336 and M-96-720 and prints the table every
long-horizon paper prints (rows: families and baselines; columns: MSE and MAE at each horizon),
with the published ETTh1 figures of two models at the same input length of 96 for reference:

- iTransformer: Liu et al., 2024, "iTransformer: Inverted Transformers Are Effective for Time
  Series Forecasting" (ICLR 2024), Table 10 (full long-term results), ETTh1;
- DLinear: the model of Zeng et al., 2023, "Are Transformers Effective for Time Series
  Forecasting?" (AAAI 2023), as run at input 96 in the same table of Liu et al. (Zeng et al.'s
  own paper reads 336 steps and reports lower errors: 0.375 MSE at horizon 96).

Under the table: the best seqlab family at each horizon and whether its mean MSE is below both
published MSEs.

``--seeds 0,1,2`` trains each family once per seed (``--seed N``; seed 0 is the configured
default and trains into DIR/SETTING/FAMILY, seed N into DIR/SETTING/FAMILY-seedN); the tables
show the mean, and the spread (lowest-highest) in the next column, or in the long-horizon table
the next row.

``--series FILE`` runs the same benchmark on another CSV series (a timestamp column and numeric
columns, the target ``OT`` last, as ETTh1; ``benchmarks/make_series.py`` writes one), read by
``--data FILE`` with the task's split for a file (70/10/20% of the rows in time order), which
the output states. ``--baselines-only`` trains nothing: it reads the baselines from one run of a
single step per setting (the cheapest way ``seqlab train`` writes a report). ``--set KEY=VALUE``
is passed to every ``seqlab train`` (e.g. ``--set train.steps=20 --set train.warmup_steps=5``
for a quick try).

Usage: python benchmarks/forecasting.py [--settings S-168-24,M-168-24,M-96-96 | --long-horizon]
       [--models rnn,lstm,gru,transformer | --baselines-only] [--seeds 0]
       [--series FILE [--series-name NAME]] [--set KEY=VALUE ...]
       [--out runs/forecasting-benchmark] [--reuse] [--train-threads 1] [--note TEXT]
       [--no-record]
Needs SEQLAB_DATA (the directory holding ett/ETTh1.csv) unless --series is given.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table, parse_seeds  # noqa: E402

SETTINGS = {
    "S-168-24": ("S", 168, 24),
    "M-168-24": ("M", 168, 24),
    "M-96-96": ("M", 96, 96),
    "M-96-192": ("M", 96, 192),
    "M-96-336": ("M", 96, 336),
    "M-96-720": ("M", 96, 720),
}
DEFAULT_SETTINGS = ("S-168-24", "M-168-24", "M-96-96")
LONG_HORIZON = ("M-96-96", "M-96-192", "M-96-336", "M-96-720")
SETTING_PATTERN = re.compile(r"^(S|M|MS)-([1-9][0-9]*)-([1-9][0-9]*)$")
MODELS = ("rnn", "lstm", "gru", "transformer")
# Known baselines in the order the tables list them; any other the report adds follows them.
BASELINE_ORDER = ("repeat", "seasonal_24", "seasonal_168", "linear", "nlinear", "dlinear")
# --baselines-only trains this family for one step: the cheapest to build; its figures unused.
BASELINES_RUN_FAMILY = "rnn"
DEFAULT_OUT = Path("runs/forecasting-benchmark")


@dataclass(frozen=True)
class Published:
    """A model's published ETTh1 errors, multivariate, input 96, by horizon."""

    name: str  # the table's row: "published: NAME"
    source: str  # the line under the table saying where the figures come from
    mse: dict[int, float]
    mae: dict[int, float]


PUBLISHED = (
    Published(
        "iTransformer",
        'Liu et al., 2024, "iTransformer: Inverted Transformers Are Effective for Time Series '
        'Forecasting" (ICLR 2024), Table 10 (full long-term forecasting results), ETTh1',
        mse={96: 0.386, 192: 0.441, 336: 0.487, 720: 0.503},
        mae={96: 0.405, 192: 0.436, 336: 0.458, 720: 0.491},
    ),
    Published(
        "DLinear",
        'the model of Zeng et al., 2023, "Are Transformers Effective for Time Series '
        'Forecasting?" (AAAI 2023), as run at input 96 in the same table of Liu et al. (Zeng et '
        "al. read 336 steps and report lower errors)",
        mse={96: 0.386, 192: 0.437, 336: 0.481, 720: 0.519},
        mae={96: 0.400, 192: 0.432, 336: 0.459, 720: 0.516},
    ),
)


@dataclass
class FamilyResult:
    """One family in one setting: its test figures and training seconds, one entry per seed
    (seconds None for a reused run)."""

    model: str
    mse: list[float] = field(default_factory=list)
    mae: list[float] = field(default_factory=list)
    mse_original: list[float] = field(default_factory=list)
    seconds: list[float | None] = field(default_factory=list)
    # With model.combine_with (the default): the network's own test MSE before the average, and
    # the baseline it was averaged with, one entry per seed.
    alone_mse: list[float] = field(default_factory=list)
    averaged_with: list[str] = field(default_factory=list)


@dataclass
class SettingResult:
    """Every family of one setting, the baselines (name -> mse, mae, mse_original) and where
    the test windows came from (the report's ``data`` section and the run's data config)."""

    setting: str
    families: list[FamilyResult] = field(default_factory=list)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    data_config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def horizon(self) -> int:
        return setting_shape(self.setting)[2]

    def best_baseline(self) -> tuple[str, float] | None:
        if not self.baselines:
            return None
        name = min(self.baselines, key=lambda candidate: self.baselines[candidate]["mse"])
        return name, self.baselines[name]["mse"]

    def best_family(self) -> FamilyResult | None:
        trained = [family for family in self.families if family.mse]
        return min(trained, key=lambda family: statistics.fmean(family.mse), default=None)


def setting_shape(setting: str) -> tuple[str, int, int]:
    """(features, input length, horizon) of a setting such as ``M-96-336``."""
    if setting in SETTINGS:
        return SETTINGS[setting]
    match = SETTING_PATTERN.match(setting)
    if match is None:
        raise ValueError(setting)
    return match.group(1), int(match.group(2)), int(match.group(3))


def train_command(
    model: str,
    setting: str,
    out: Path,
    threads: int,
    *,
    seed: int = 0,
    data: Path | None = None,
    overrides: tuple[str, ...] = (),
    steps: int | None = None,
) -> list[str]:
    """The ``seqlab train forecasting`` command of one run. Seed 0 (the configured default) and
    ETTh1 add no option, so those commands read as they always did."""
    features, input_length, horizon = setting_shape(setting)
    series = ("--data", str(data)) if data is not None else ()
    seeded = ("--seed", str(seed)) if seed else ()
    # warmup_steps must stay below the step budget; one step needs none.
    budget = ("--steps", str(steps), "--set", "train.warmup_steps=0") if steps else ()
    passed = tuple(part for override in overrides for part in ("--set", override))
    return ["seqlab", "train", "forecasting", "--model", model, "--preset", "cpu-small",
            *series, "--features", features, "--input-length", str(input_length),
            "--horizon", str(horizon), *seeded, *budget, "--set", f"train.threads={threads}",
            *passed, "--out", str(out), "--quiet"]  # fmt: skip


def run_dir(root: Path, setting: str, model: str, seed: int) -> Path:
    """Seed 0 trains into ROOT/SETTING/MODEL (where earlier runs are), seed N into MODEL-seedN."""
    return root / setting / (model if seed == 0 else f"{model}-seed{seed}")


def train(command: list[str], out: Path, *, reuse: bool) -> float | None:
    """Train into ``out``; returns the wall-clock seconds, or None when a finished run is reused."""
    if reuse and (out / "metrics.json").exists():
        return None
    print(f"$ {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    finished = subprocess.run([sys.executable, "-m", "seqlab", *command[1:]], check=False)
    if finished.returncode != 0:  # seqlab has printed why; no traceback of this script on top
        raise SystemExit(f"forecasting.py: training failed (exit {finished.returncode}), above")
    return time.perf_counter() - started


def read_run(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the test report of metrics.json, the data section of config.json) of a finished run."""
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    config = json.loads((out / "config.json").read_text())
    return metrics, config.get("data", {})


def ordered_baselines(baselines: dict[str, dict[str, float]]) -> list[str]:
    known = [name for name in BASELINE_ORDER if name in baselines]
    return known + [name for name in baselines if name not in BASELINE_ORDER]


def _take_baselines(result: SettingResult, metrics: dict[str, Any], run: str) -> None:
    """Keep the first run's baselines; note any run whose baselines differ (they should not:
    they are fitted on the training windows, whatever the family or seed, so a difference means
    the runs were made by different versions of seqlab)."""
    baselines = metrics.get("baselines", {})
    if not result.baselines:
        result.baselines = dict(baselines)
        return
    for name, figures in baselines.items():
        first = result.baselines.get(name)
        if first is None:
            result.baselines[name] = figures
            result.notes.append(f"baseline {name}: reported by {run} but not by the first run")
        elif abs(first["mse"] - figures["mse"]) > 1e-9 * max(1.0, first["mse"]):
            result.notes.append(
                f"baseline {name}: {run} reports MSE {figures['mse']:.6f}, the first run "
                f"{first['mse']:.6f}; the table shows the first"
            )


def run_setting(
    setting: str, models: list[str], seeds: list[int], args: argparse.Namespace,
    commands: list[str],
) -> SettingResult:  # fmt: skip
    """Train (or reuse) every family and seed of one setting and collect the figures; with no
    families, one single-step run gives the baselines."""
    result = SettingResult(setting)
    overrides = tuple(args.overrides)
    if not models:
        out = args.out / setting / "baselines-only"
        command = train_command(BASELINES_RUN_FAMILY, setting, out, args.train_threads,
                                data=args.series, overrides=overrides, steps=1)  # fmt: skip
        train(command, out, reuse=args.reuse)
        metrics, result.data_config = read_run(out)
        _take_baselines(result, metrics, str(out))
        result.data = metrics.get("data", {})
        commands.append(f"- {setting} baselines (one training step): `{shlex.join(command)}`")
        return result
    for model in models:
        family = FamilyResult(model)
        for seed in seeds:
            out = run_dir(args.out, setting, model, seed)
            command = train_command(model, setting, out, args.train_threads, seed=seed,
                                    data=args.series, overrides=overrides)  # fmt: skip
            seconds = train(command, out, reuse=args.reuse)
            metrics, data_config = read_run(out)
            family.mse.append(metrics["mse"])
            family.mae.append(metrics["mae"])
            family.mse_original.append(metrics["mse_original"])
            family.seconds.append(seconds)
            combination = metrics.get("combination")
            if isinstance(combination, dict) and "network_alone" in combination:
                family.alone_mse.append(combination["network_alone"]["mse"])
                family.averaged_with.append(str(combination["baseline"]))
            _take_baselines(result, metrics, str(out))
            if not result.data:
                result.data, result.data_config = metrics.get("data", {}), data_config
            label = model if len(seeds) == 1 else f"{model}, seed {seed}"
            commands.append(f"- {setting} {label}: `{shlex.join(command)}`")
            took = "reused" if seconds is None else f"{seconds / 60:.1f} min"
            print(f"{setting} | {label} | {metrics['mse']:.4f} | {metrics['mae']:.4f} | {took}",
                  flush=True)  # fmt: skip
        result.families.append(family)
    return result


def mean_and_range(values: list[float], digits: int = 4) -> tuple[str, str]:
    """The mean, and 'lowest-highest' (empty for one value)."""
    mean = f"{statistics.fmean(values):.{digits}f}"
    spread = f"{min(values):.{digits}f}-{max(values):.{digits}f}" if len(values) > 1 else ""
    return mean, spread


def relative(value: float, reference: float) -> str:
    """E.g. '-2.4%': how far ``value`` lies below (-) or above (+) ``reference``."""
    return f"{(value - reference) / reference:+.1%}" if reference > 0 else ""


def training_time(seconds: list[float | None]) -> str:
    measured = [value for value in seconds if value is not None]
    if not measured:
        return "reused"
    per_run = f"{statistics.fmean(measured) / 60:.1f} min"
    return per_run if len(seconds) == 1 else f"{per_run} a run"


def verdict(result: SettingResult, seeds: list[int]) -> str | None:
    """'Best family: lstm 0.3723 (mean of 3 seeds); best baseline: linear 0.3815; the family
    beats it by 2.4%.', or None without a family or a baseline."""
    best, family = result.best_baseline(), result.best_family()
    if best is None or family is None:
        return None
    name, baseline_mse = best
    mse = statistics.fmean(family.mse)
    if mse < baseline_mse:
        how = f"beats it by {(baseline_mse - mse) / baseline_mse:.1%}"
    elif mse > baseline_mse:
        how = f"falls short of it by {(mse - baseline_mse) / baseline_mse:.1%}"
    else:
        how = "matches it"
    mean = f" (mean of {len(seeds)} seeds)" if len(seeds) > 1 else ""
    return (
        f"Best family: {family.model} {mse:.4f}{mean}; best baseline: {name} "
        f"{baseline_mse:.4f}; the family {how}."
    )


def setting_section(result: SettingResult, seeds: list[int]) -> str:
    """One setting's table: each family (mean over seeds, with the spread when several) and each
    baseline: test MSE and MAE, MSE in the data's units, training time, and test MSE against the
    best baseline's."""
    several = len(seeds) > 1
    # With model.combine_with every run reports its network alone: a column for it.
    combined = any(len(family.alone_mse) == len(family.mse) > 0 for family in result.families)
    best = result.best_baseline()
    rows = []
    for family in result.families:
        mse, spread = mean_and_range(family.mse)
        versus = relative(statistics.fmean(family.mse), best[1]) if best else ""
        alone = []
        if combined:
            with_ = "/".join(sorted(set(family.averaged_with)))
            own = mean_and_range(family.alone_mse)[0] if family.alone_mse else ""
            alone = [own, with_]
        rows.append([
            family.model, mse, *([spread] if several else []), mean_and_range(family.mae)[0],
            f"{statistics.fmean(family.mse_original):.4g}", training_time(family.seconds), versus,
            *alone,
        ])  # fmt: skip
    for name in ordered_baselines(result.baselines):
        figures = result.baselines[name]
        versus = (
            "" if best is None else "best" if name == best[0] else relative(figures["mse"], best[1])
        )
        rows.append([
            f"baseline: {name}", f"{figures['mse']:.4f}", *([""] if several else []),
            f"{figures['mae']:.4f}", f"{figures['mse_original']:.4g}", "", versus,
            *(["", ""] if combined else []),
        ])  # fmt: skip
    mean = f", mean of {len(seeds)} seeds" if several else ""
    header = [
        "model", f"test MSE{mean}", *(["MSE lowest-highest"] if several else []),
        f"test MAE{mean}", "MSE, original units", "training", "MSE vs best baseline",
        *([f"network alone, test MSE{mean}", "averaged with"] if combined else []),
    ]  # fmt: skip
    lines = [f"### {result.setting}", "", markdown_table(header, rows)]
    summary = verdict(result, seeds)
    if summary:
        lines += ["", summary]
    lines += ["", *(f"Note: {note}" for note in result.notes)] if result.notes else []
    return "\n".join(lines)


def published_for(results: list[SettingResult], *, etth1: bool) -> tuple[Published, ...]:
    """The published rows that fit the table: ETTh1, multivariate, input 96."""
    shapes = [setting_shape(result.setting) for result in results]
    fits = all(features == "M" and input_length == 96 for features, input_length, _ in shapes)
    return PUBLISHED if etth1 and fits else ()


def below_published(mse: float, horizon: int, published: tuple[Published, ...]) -> str:
    """', below iTransformer (0.386) and DLinear (0.386)' or which of them it is not below."""
    known = [entry for entry in published if horizon in entry.mse]
    if not known:
        return ""
    figures = " and ".join(f"{entry.name} ({entry.mse[horizon]:.3f})" for entry in known)
    above = [entry for entry in known if mse >= entry.mse[horizon]]
    if not above:
        return f", below both published MSEs: {figures}" if len(known) > 1 else f", below {figures}"
    missed = " and ".join(f"{entry.name} ({entry.mse[horizon]:.3f})" for entry in above)
    return f", NOT below {missed}"


def long_horizon_section(
    results: list[SettingResult], seeds: list[int], published: tuple[Published, ...]
) -> str:
    """The table of long-horizon papers: a row per family (its mean, a row of lowest-highest
    over seeds when several, and the network alone's MSE when averaged with a baseline) and per
    baseline, an MSE and an MAE column per horizon, the
    published rows below; then the best family and baseline at each horizon."""
    several = len(seeds) > 1
    header = ["model"] + [f"{r.horizon} {metric}" for r in results for metric in ("MSE", "MAE")]
    rows = []
    models = [family.model for family in results[0].families]
    for model in models:
        families = [next(f for f in result.families if f.model == model) for result in results]
        label = f"{model} (mean of {len(seeds)} seeds)" if several else model
        rows.append([label] + [mean_and_range(values)[0] for family in families
                               for values in (family.mse, family.mae)])  # fmt: skip
        if several:
            rows.append([f"{model}, lowest-highest"] + [
                mean_and_range(values, digits=3)[1] for family in families
                for values in (family.mse, family.mae)
            ])  # fmt: skip
        if all(len(family.alone_mse) == len(family.mse) > 0 for family in families):
            # model.combine_with: the network's own forecast before the average (MSE only).
            rows.append([f"{model}, network alone"] + [
                cell for family in families
                for cell in (mean_and_range(family.alone_mse)[0], "")
            ])  # fmt: skip
    names: list[str] = []
    for result in results:
        names += [name for name in ordered_baselines(result.baselines) if name not in names]
    for name in names:
        cells = []
        for result in results:
            figures = result.baselines.get(name)
            cells += [f"{figures['mse']:.4f}", f"{figures['mae']:.4f}"] if figures else ["", ""]
        rows.append([f"baseline: {name}", *cells])
    for entry in published:
        cells = []
        for result in results:
            horizon = result.horizon
            if horizon in entry.mse:
                cells += [f"{entry.mse[horizon]:.3f}", f"{entry.mae[horizon]:.3f}"]
            else:
                cells += ["", ""]
        rows.append([f"published: {entry.name}", *cells])
    lines = [markdown_table(header, rows), ""]
    if published:
        sources = "; ".join(f"{entry.name}: {entry.source}" for entry in published)
        lines += [f"Published rows, at the same input length of 96: {sources}.", ""]
    lines += [horizon_summary(result, published) for result in results]
    return "\n".join(lines)


def horizon_summary(result: SettingResult, published: tuple[Published, ...]) -> str:
    """'- horizon 96: best family lstm 0.3723, below both published MSEs: ...; best baseline
    linear 0.3815, ...'."""
    parts = []
    family = result.best_family()
    if family is not None:
        mse = statistics.fmean(family.mse)
        compared = below_published(mse, result.horizon, published)
        parts.append(f"best family {family.model} {mse:.4f}{compared}")
    best = result.best_baseline()
    if best is not None:
        compared = below_published(best[1], result.horizon, published)
        parts.append(f"best baseline {best[0]} {best[1]:.4f}{compared}")
    return f"- horizon {result.horizon}: " + "; ".join(parts)


def split_statement(result: SettingResult) -> str:
    """How the series was split, and which rows the test windows forecast, from the report."""
    data, config = result.data, result.data_config
    protocol = data.get("split")
    if protocol == "etth1":
        how = "ETTh1's published split, 12, 4 and 4 months (train, validation, test)"
    elif protocol == "ratio":
        ratios = "/".join(f"{ratio:.0%}" for ratio in config.get("split_ratios", ()))
        how = f"ratio split, {ratios} of the rows in time order (train, validation, test)"
    elif protocol == "rows":
        how = f"rows split {config.get('split_rows')} (train, validation, test rows)"
    else:
        how = f"split {protocol}"
    test, rows = data.get("target_rows", {}).get("test"), data.get("rows")
    where = ""
    if test and rows:
        where = f"; the test windows forecast rows {test[0]:,} to {test[1] - 1:,} of {rows:,}"
    return (
        f"Split: {how}{where} (rows counted from 0); the scaler is fitted on the training rows, "
        "and MSE and MAE are on the normalised scale."
    )


def _names(text: str | None, default: tuple[str, ...]) -> list[str]:
    if text is None:
        return list(default)
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--settings", help=f"FEATURES-INPUT-HORIZON, comma-separated ({','.join(DEFAULT_SETTINGS)})"
    )
    add("--long-horizon", action="store_true", help="the settings M-96-{96,192,336,720}, a table")
    add("--models", help=f"comma-separated families (default: {','.join(MODELS)})")
    add("--baselines-only", action="store_true", help="no family: one training step a setting")
    add("--seeds", default="0", help="comma-separated seeds per family (default: 0)")
    add("--series", type=Path, help="another CSV series, read with --data (default: ETTh1)")
    add("--series-name", help="the series' name in the output (default: the file's stem)")
    add("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="passed to every seqlab train (repeatable)")  # fmt: skip
    add("--out", type=Path, help=f"run folders (default: {DEFAULT_OUT}[/NAME with --series])")
    add("--reuse", action="store_true", help="measure finished runs again")
    add("--train-threads", type=int, default=1, help="threads for training")
    add("--note", default="", help="a sentence recorded with the results")
    add("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()

    if args.long_horizon and args.settings is not None:
        parser.error("--long-horizon runs its own settings; leave out --settings")
    args.settings = (
        list(LONG_HORIZON) if args.long_horizon else _names(args.settings, DEFAULT_SETTINGS)
    )
    for setting in args.settings:
        try:
            setting_shape(setting)
        except ValueError:
            parser.error(
                f"unknown setting '{setting}'; choose from {', '.join(SETTINGS)} or write "
                "FEATURES-INPUT-HORIZON (features S, M or MS), e.g. M-336-96"
            )
    if args.baselines_only and args.models is not None:
        parser.error("--baselines-only trains no family; leave out --models")
    args.models = [] if args.baselines_only else _names(args.models, MODELS)
    for model in args.models:
        if model not in MODELS:
            parser.error(f"unknown model '{model}'; choose from {', '.join(MODELS)}")
    args.seeds = parse_seeds(parser, args.seeds)
    if args.baselines_only and args.seeds != [0]:
        parser.error("--baselines-only trains no family and the baselines ignore the seed; "
                     "leave out --seeds")  # fmt: skip
    for override in args.overrides:
        if "=" not in override:
            parser.error(f"--set {override}: write KEY=VALUE, e.g. --set train.steps=20")
    if args.series_name is not None and args.series is None:
        parser.error("--series-name names the file of --series; add --series FILE")
    if args.series is not None and not args.series.is_file():
        parser.error(f"--series {args.series}: no such file; benchmarks/make_series.py writes one")
    args.name = "ETTh1" if args.series is None else (args.series_name or args.series.stem)
    if args.out is None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", args.name)
        args.out = DEFAULT_OUT if args.series is None else DEFAULT_OUT / slug
    return args


def main() -> None:
    args = parse_arguments()
    commands: list[str] = []
    results = [
        run_setting(setting, args.models, args.seeds, args, commands) for setting in args.settings
    ]

    several = len(args.seeds) > 1
    source = "" if args.series is None else f" (`{args.series}`)"
    intro = [f"{args.name}{source} test split, every window; `--preset cpu-small`."]
    intro.append(split_statement(results[0]))
    if several:
        seeds = ", ".join(str(seed) for seed in args.seeds)
        intro.append(
            f"Each family trained with seeds {seeds}: the mean, and the lowest and highest; the "
            "baselines are fitted on the training windows, once."
        )
    if args.baselines_only:
        intro.append("Baselines only: read from one training step a setting; no family trained.")
    if args.overrides:
        passed = " ".join(f"--set {override}" for override in args.overrides)
        intro.append(f"Every run with `{passed}` on top of the preset.")
    sections = []
    if args.long_horizon:
        published = published_for(results, etth1=args.series is None)
        table = long_horizon_section(results, args.seeds, published)
        sections.append(f"### Long-horizon table, input 96, {args.name} multivariate\n\n{table}")
    sections += [setting_section(result, args.seeds) for result in results]
    body = (
        " ".join(intro) + "\n\n" + "\n\n".join(sections)
        + "\n\nTraining commands:\n\n" + "\n".join(commands)
        + (f"\n\nNote: {args.note}" if args.note else "")
    )  # fmt: skip
    print(body)
    if not args.no_record:
        kind = "long-horizon forecasting" if args.long_horizon else "forecasting"
        title = f"{args.name} {kind}" + (", baselines only" if args.baselines_only else "")
        append_section(title, body)


if __name__ == "__main__":
    main()
