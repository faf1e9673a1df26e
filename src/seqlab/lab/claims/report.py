"""The claims report: report.md (figures beside it as PNG files), a self-contained report.html
(every figure embedded as a base64 PNG) and results.json, built with the table helpers of the
compare report (seqlab.lab.report).

results.json and ``seqlab claims --json`` hold the same object:
``{"machine": {...}, "mode": "quick"|"full", "seconds": float, "claims": [{"id", "number",
"statement", "design", "numbers", "verdict", "reason", "rule", "figure", "settings",
"seconds"}]}``, ``figure`` being the PNG's file name beside report.md.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqlab.lab.claims.base import ClaimResult
from seqlab.lab.report import html_table, markdown_table
from seqlab.utils.io import atomic_write_bytes, atomic_write_text

TITLE = "seqlab claims: what the study material says about RNNs and Transformers, measured"


def results_json(
    results: Sequence[ClaimResult], machine: dict[str, Any], *, quick: bool, seconds: float
) -> dict[str, Any]:
    return {
        "machine": machine,
        "mode": "quick" if quick else "full",
        "seconds": round(seconds, 3),
        "claims": [result.to_json() for result in results],
    }


def verdict_table(results: Sequence[ClaimResult]) -> tuple[list[str], list[list[str]]]:
    header = ["#", "claim", "verdict", "seconds", "reason"]
    rows = [
        [str(r.claim.number), r.claim.id, r.verdict, f"{r.seconds:.1f}", r.reason] for r in results
    ]
    return header, rows


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_format(item) for item in value)
    return "n/a" if value is None else str(value)


def _flat(numbers: dict[str, Any], prefix: str = "") -> list[list[str]]:
    """Nested numbers as (dotted name, value) rows."""
    rows = []
    for key, value in numbers.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flat(value, f"{name}.")
        else:
            rows.append([name, _format(value)])
    return rows


def _settings_text(settings: dict[str, Any]) -> str:
    return "; ".join(f"{key} {_format(value)}" for key, value in settings.items())


def _machine_text(machine: dict[str, Any]) -> str:
    return "; ".join(f"{key} {value}" for key, value in machine.items())


def _markdown(document: dict[str, Any], results: Sequence[ClaimResult]) -> str:
    header, rows = verdict_table(results)
    lines = [
        f"# {TITLE}", "",
        f"Machine: {_machine_text(document['machine'])}.", "",
        f"Settings: {document['mode']}; total time {document['seconds']:.1f} s. Verdicts are "
        "computed from the numbers by each claim's rule, stated in its section.", "",
        "## Verdicts", "", markdown_table(header, rows), "",
    ]  # fmt: skip
    for result in results:
        claim = result.claim
        lines += [
            f"## {claim.number}. {claim.id}", "", f"> {claim.statement}", "",
            f"**Design.** {claim.design}", "",
            f"**Settings.** {_settings_text(result.settings)}", "",
        ]  # fmt: skip
        if result.numbers:
            lines += ["**Numbers.**", "", markdown_table(["number", "value"],
                                                          _flat(result.numbers)), ""]  # fmt: skip
        lines += [
            f"**Verdict: {result.verdict}.** {result.reason}", "", f"**Rule.** {claim.rule}", "",
        ]  # fmt: skip
        lines += [f"![{claim.id}]({result.figure_name})", ""]
    return "\n".join(lines)


def _html(document: dict[str, Any], results: Sequence[ClaimResult]) -> str:
    header, rows = verdict_table(results)
    sections = []
    for result in results:
        claim = result.claim
        parts = [
            f"<h2 id='{claim.id}'>{claim.number}. {html.escape(claim.id)}</h2>",
            f"<blockquote>{html.escape(claim.statement)}</blockquote>",
            f"<p><b>Design.</b> {html.escape(claim.design)}</p>",
            f"<p><b>Settings.</b> {html.escape(_settings_text(result.settings))}</p>",
        ]
        if result.numbers:
            parts.append(html_table(["number", "value"], _flat(result.numbers)))
        parts += [
            f"<p><b>Verdict: {html.escape(result.verdict)}.</b> {html.escape(result.reason)}</p>",
            f"<p><b>Rule.</b> {html.escape(claim.rule)}</p>",
        ]
        encoded = base64.b64encode(result.figure).decode()
        parts.append(f"<img alt='{claim.id}' src='data:image/png;base64,{encoded}'>")
        sections.append("".join(parts))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>seqlab claims</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "color:#222}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 7px;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
        "blockquote{border-left:3px solid #ccc;margin-left:0;padding-left:1em}"
        f"</style></head><body><h1>{html.escape(TITLE)}</h1>"
        f"<p>Machine: {html.escape(_machine_text(document['machine']))}.</p>"
        f"<p>Settings: {document['mode']}; total time {document['seconds']:.1f} s. Verdicts are "
        "computed from the numbers by each claim's rule, stated in its section.</p>"
        f"<h2>Verdicts</h2>{html_table(header, rows)}" + "".join(sections) + "</body></html>"
    )  # fmt: skip


def write_report(results: Sequence[ClaimResult], document: dict[str, Any], out_dir: Path) -> Path:
    """Write report.md, one PNG per figure, report.html and results.json; return report.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        atomic_write_bytes(out_dir / result.figure_name, result.figure)
    atomic_write_text(out_dir / "report.md", _markdown(document, results))
    atomic_write_text(out_dir / "report.html", _html(document, results))
    atomic_write_text(out_dir / "results.json", json.dumps(document, indent=2))
    return out_dir / "report.html"
