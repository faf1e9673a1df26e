"""What one claim is, what measuring it gives, and the machine it was measured on.

A claim carries the statement as the study material makes it, the experiment's design in one
paragraph, its quick and full settings, ``measure(settings) -> numbers`` (a JSON-ready dict),
its pure verdict rule and the rule's wording, and ``figure(numbers) -> PNG``.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seqlab.lab.claims.verdicts import Numbers, Verdict

Settings = Mapping[str, Any]


@dataclass(frozen=True)
class Claim:
    number: int  # the claim's place in the study material's list (issue 16)
    id: str
    statement: str
    design: str
    rule: str
    verdict: Callable[[Numbers], Verdict]
    measure: Callable[[Settings], dict[str, Any]]
    figure: Callable[[Numbers], bytes]
    quick: Settings = field(default_factory=dict)
    full: Settings = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    settings: dict[str, Any]
    numbers: dict[str, Any]
    verdict: str
    reason: str
    figure: bytes
    seconds: float

    @property
    def figure_name(self) -> str:
        return f"{self.claim.id}.png"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.claim.id,
            "number": self.claim.number,
            "statement": self.claim.statement,
            "design": self.claim.design,
            "numbers": self.numbers,
            "verdict": self.verdict,
            "reason": self.reason,
            "rule": self.claim.rule,
            "figure": self.figure_name,
            "settings": self.settings,
            "seconds": round(self.seconds, 3),
        }


def _cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo on Linux, else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str) -> dict[str, Any]:
    """The machine block every report carries: results depend on it (claims 4 to 7 and 15)."""
    import torch

    block: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if device == "cuda" and torch.cuda.is_available():
        block["gpu"] = torch.cuda.get_device_name(0)
    return block


def hardware(device: str) -> str:
    """The hardware a timing belongs to, in words, for the timing claims' caveats and figures."""
    block = machine(device)
    if "gpu" in block:
        return str(block["gpu"])
    return f"{block['cpu']}, {block['torch_threads']} torch thread(s)"
