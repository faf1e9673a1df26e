"""How to weigh a network's forecast against a baseline's: equal weights or a weight fitted on
the validation windows, measured on the test windows of trained forecasters.

References: Bates and Granger, 1969, "The Combination of Forecasts"; Smith and Wallis, 2009, "A
Simple Explanation of the Forecast Combination Puzzle" (estimated weights often lose to equal
ones); seqlab.models.combined_forecaster (what ``model.combine_with`` computes).

For each model directory given (trained with ``model.combine_with``, the forecasting default),
with f the network's forecast and b the baseline's it is averaged with, both on the normalised
scale, every forecast column and step:

- network alone: f; baseline alone: b;
- equal weights (the default): b + w (f - b) with w = 1/2;
- fitted on validation: w* = clip(<f - b, y - b> / <f - b, f - b>, 0, 1), the least-squares
  weight over every validation window, then applied to the test windows.

The test MSE of each, a row per directory, then per family the mean over its directories. The
validation MSEs of f and b are printed beside them: where they rank the two forecasts the other
way round from the test windows, a fitted weight moves away from the better one.

Usage: python benchmarks/forecast_combination.py DIR [DIR ...] [--title TEXT] [--no-record]
Needs SEQLAB_DATA for directories trained on ETTh1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table  # noqa: E402
from seqlab.models.combined_forecaster import CombinedForecaster  # noqa: E402
from seqlab.tasks.forecasting.baselines import split_windows  # noqa: E402
from seqlab.tasks.forecasting.quantiles import QuantileForecaster  # noqa: E402
from seqlab.tasks.runner import load_trained  # noqa: E402

COLUMNS = ("network alone", "baseline", "equal weights", "fitted weight", "w*",
           "val MSE network", "val MSE baseline")  # fmt: skip


def forecasts(model: CombinedForecaster, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(f, b): the network's and the baseline's forecasts of every window, (N, horizon, F_out)
    float64, in batches of 512."""
    network, baseline = [], []
    with torch.no_grad():
        for start in range(0, len(inputs), 512):
            window = inputs[start : start + 512]  # (B, T, F_in)
            network.append(model.network(window).double())  # (B, horizon, F_out)
            baseline.append(model.baseline(window).double())  # (B, horizon, F_out)
    return torch.cat(network).numpy(), torch.cat(baseline).numpy()


def measure(model_dir: Path) -> tuple[str, str, dict[str, float]]:
    """(family, baseline name, the figures of COLUMNS) of one directory."""
    task, model, config = load_trained(model_dir)
    if isinstance(model, QuantileForecaster):
        raise SystemExit(f"{model_dir}: a quantile model; give point forecasters")
    if not isinstance(model, CombinedForecaster) or task.combination_choice is None:
        raise SystemExit(f"{model_dir}: not trained with model.combine_with")
    figures: dict[str, float] = {}
    splits = {}
    for split in ("val", "test"):
        inputs, truth = split_windows(task.series_data, split)
        network, baseline = forecasts(model, inputs)
        splits[split] = (network, baseline, truth.double().numpy().reshape(network.shape))
    network, baseline, truth = splits["val"]
    gap = network - baseline
    weight = float(np.clip(np.sum(gap * (truth - baseline)) / np.sum(gap * gap), 0.0, 1.0))
    figures["val MSE network"] = float(np.mean((network - truth) ** 2))
    figures["val MSE baseline"] = float(np.mean((baseline - truth) ** 2))
    network, baseline, truth = splits["test"]

    def mse(forecast: np.ndarray) -> float:
        return float(np.mean((forecast - truth) ** 2))

    figures["network alone"] = mse(network)
    figures["baseline"] = mse(baseline)
    figures["equal weights"] = mse(baseline + 0.5 * (network - baseline))
    figures["fitted weight"] = mse(baseline + weight * (network - baseline))
    figures["w*"] = weight
    return str(config["model"]["family"]), task.combination_choice.baseline, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    parser.add_argument("--title", default="", help="the series and setting, for the heading")
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, by_family = [], {}
    for model_dir in args.dirs:
        family, baseline, figures = measure(model_dir)
        by_family.setdefault(family, []).append(figures)
        rows.append([str(model_dir), baseline, *(f"{figures[name]:.4f}" for name in COLUMNS)])
        print(" | ".join(rows[-1]), flush=True)
    means = [
        [family, str(len(runs)),
         *(f"{statistics.fmean(run[name] for run in runs):.4f}" for name in COLUMNS)]
        for family, runs in by_family.items()
    ]  # fmt: skip
    body = "\n".join([
        "Test MSE (normalised) of each way to weigh the network against the baseline it is "
        "averaged with; w* the weight fitted on the validation windows (1: the network alone).",
        "", "Per family, the mean over its directories:", "",
        markdown_table(["family", "runs", *COLUMNS], means), "",
        markdown_table(["directory", "baseline", *COLUMNS], rows),
    ])  # fmt: skip
    print(body)
    if not args.no_record:
        title = "Forecast combination weights" + (f": {args.title}" if args.title else "")
        append_section(title, body)


if __name__ == "__main__":
    main()
