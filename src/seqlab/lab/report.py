"""The compare report: report.md (figures beside it as PNG files), a self-contained report.html
(figures embedded), and results.json (every measured number)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from seqlab.lab import figures
from seqlab.lab.compare import FAMILY_LABEL, SOLVED, VERDICT_RULES, CompareResults
from seqlab.utils.io import atomic_write_bytes, atomic_write_text

TEXTBOOK = {
    "rnn": "fails past 10 to 20 steps",
    "lstm": "reaches hundreds of steps",
    "gru": "reaches hundreds of steps",
    "transformer": "reaches any distance",
}


_STOP_NOTE = {"target_reached": " (target)", "early_stopping": " (no progress)"}


def _format_value(metric: str, value: float) -> str:
    return f"{value:.1%}" if metric == "accuracy" else f"{value:.4f}"


def results_table(results: CompareResults) -> tuple[list[str], list[list[str]]]:
    header = ["task", "distance", "family", "metric", "chance", "verdict", "steps",
              "train s", "tokens/s", "params"]  # fmt: skip
    rows = []
    for run in results.runs:
        rows.append([
            run.task, str(run.distance), FAMILY_LABEL[run.family],
            _format_value(run.metric, run.value), _format_value(run.metric, run.chance),
            run.verdict, str(run.steps) + _STOP_NOTE.get(run.stop_reason, ""),
            f"{run.seconds:.1f}", f"{run.tokens_per_second:,.0f}", f"{run.parameters:,}",
        ])  # fmt: skip
    return header, rows


def distance_tables(results: CompareResults) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per task, a family x distance grid of the test metric (a tick where solved)."""
    tables = []
    distances = sorted(results.settings.distances)
    for kind in results.settings.tasks:
        by_key = {(run.family, run.distance): run for run in results.runs if run.task == kind}
        if not by_key:
            continue
        metric = next(iter(by_key.values())).metric
        chance = next(iter(by_key.values())).chance
        header = [f"{kind}: test {metric} (chance {_format_value(metric, chance)})"] + [
            f"d={distance}" for distance in distances
        ]
        rows = []
        for family in results.settings.families:
            cells = [FAMILY_LABEL[family]]
            for distance in distances:
                run = by_key.get((family, distance))
                cells.append(
                    "" if run is None
                    else _format_value(metric, run.value) + (" ✓" if run.solved else "")
                )  # fmt: skip
            rows.append(cells)
        tables.append((kind, header, rows))
    return tables


def findings(results: CompareResults) -> list[str]:
    """One sentence per (task, family): how far it learned, against what textbooks say."""
    lines = []
    for kind in results.settings.tasks:
        for family in results.settings.families:
            runs = sorted(
                (run for run in results.runs if run.task == kind and run.family == family),
                key=lambda run: run.distance,
            )
            if not runs:
                continue
            solved = [run.distance for run in runs if run.solved]
            unsolved = [run for run in runs if not run.solved]
            if not solved:
                reach = "solved no distance"
            elif not unsolved:
                reach = f"solved every distance up to {max(solved)}"
            else:
                reach = (
                    f"solved up to distance {max(solved)}; not at {unsolved[0].distance} "
                    f"({unsolved[0].verdict})"
                )
            lines.append(f"{kind}, {FAMILY_LABEL[family]}: {reach}. Textbook: {TEXTBOOK[family]}.")
    return lines


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _settings_text(results: CompareResults) -> str:
    s = results.settings
    sizes = "; ".join(
        f"{FAMILY_LABEL[family]} "
        + ", ".join(f"{key} {value}" for key, value in size.items() if key != "parameters")
        + f" ({size['parameters']:,} parameters)"
        for family, size in results.model_sizes.items()
    )
    thresholds = ", ".join(
        f"{kind} {'>=' if kind != 'adding' else '<'} {SOLVED[kind]}" for kind in s.tasks
    )
    stopping = "stopping early once validation reaches its target"
    if s.patience:
        stopping += f" or after {s.patience} evaluations without a new best"
    gates = f"{s.init} initialisation"
    if s.init == "chrono":
        gates += " (Tallec and Ollivier, 2018: forget/update bias log(U(1, T-1)))"
    weights = s.recurrent_init + (
        " (Saxe et al., 2014)" if s.recurrent_init == "orthogonal" else " (torch's default)"
    )
    families = ", ".join(FAMILY_LABEL[family] for family in s.families)
    sentences = [
        f"Tasks {', '.join(s.tasks)} at distances {', '.join(map(str, s.distances))}; "
        f"families {families}.",
        f"Budget {s.steps} steps of batch {s.batch_size}, {stopping}; evaluation every "
        f"{s.eval_every} steps on {s.eval_examples} examples; seed {s.seed}; device {s.device}; "
        f"{s.jobs} run(s) at a time, one thread each when more than one.",
        f"Sizes matched to about {s.parameter_budget:,} parameters: {sizes}.",
        f"Recurrent gate biases: {gates}; recurrent weights {weights}.",
        f"Solved means {thresholds}.",
        f"Total time {results.seconds / 60:.1f} minutes; seqlab {results.seqlab_version}.",
    ]
    return " ".join(sentences)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    return (
        "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
        + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                  for row in rows)
        + "</tbody></table><br>"
    )  # fmt: skip


def write_report(results: CompareResults, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    pictures = {
        "metric_vs_distance.png": ("What each family learned, by distance",
                                   figures.metric_vs_distance(results)),
        "gradient_vs_distance.png": ("Vanishing gradients made visible",
                                     figures.gradient_vs_distance(results)),
        "step_time_vs_length.png": ("Seconds per training step against sequence length",
                                    figures.step_time_vs_length(results)),
    }  # fmt: skip
    for name, (_, png) in pictures.items():
        atomic_write_bytes(out_dir / name, png)
    header, rows = results_table(results)
    facts = findings(results)

    markdown = [
        "# seqlab compare: RNN vs LSTM vs GRU vs Transformer on long-range memory", "",
        _settings_text(results), "", "## Findings", "",
        *(f"- {line}" for line in facts), "", "## By distance (✓ solved)", "",
    ]  # fmt: skip
    for _, grid_header, grid_rows in distance_tables(results):
        markdown += [markdown_table(grid_header, grid_rows), ""]
    markdown += [
        "## Every run", "", markdown_table(header, rows), "", f"Verdict rules: {VERDICT_RULES}",
        "",
    ]  # fmt: skip
    for name, (title, _) in pictures.items():
        markdown += [f"## {title}", "", f"![{title}]({name})", ""]
    atomic_write_text(out_dir / "report.md", "\n".join(markdown))

    grids_html = "".join(
        html_table(grid_header, grid_rows) for _, grid_header, grid_rows in distance_tables(results)
    )
    table_html = html_table(header, rows)
    figures_html = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
        f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        for title, png in pictures.values()
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>seqlab compare</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "color:#222}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 7px;text-align:right}th{background:#f3f3f3}img{max-width:100%}"
        "</style></head><body>"
        "<h1>seqlab compare: RNN vs LSTM vs GRU vs Transformer on long-range memory</h1>"
        f"<p>{html.escape(_settings_text(results))}</p><h2>Findings</h2><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in facts)
        + f"</ul><h2>By distance (✓ solved)</h2>{grids_html}"
        + f"<h2>Every run</h2>{table_html}<p>Verdict rules: {html.escape(VERDICT_RULES)}</p>"
        + figures_html + "</body></html>"
    )  # fmt: skip
    atomic_write_text(out_dir / "report.html", page)
    atomic_write_text(out_dir / "results.json", json.dumps(results.to_json(), indent=2))
    return out_dir / "report.html"
