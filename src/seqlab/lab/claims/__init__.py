"""``seqlab claims``: every claim the study material makes about RNNs and Transformers, each
tested by an experiment, with a verdict computed from the measurements and a figure.

The registry ``CLAIMS`` lists all seventeen in the study material's order. ``run_claims``
measures the chosen ones with their quick or full settings and returns ``ClaimResult``s;
``report.write_report`` turns them into report.md, report.html and results.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.lab.claims import (
    cost_by_length,
    fixed_state_capacity,
    gradient_clipping,
    gru_parameters,
    gru_trains_faster,
    local_attention,
    lstm_vanishing,
    memory_distance,
    padding_invariance,
    parallel_training,
    permutation_equivariance,
    short_sequences,
    streaming_latency,
    warm_up,
    whole_message_latency,
)
from seqlab.lab.claims.base import Claim, ClaimResult

CLAIMS: tuple[Claim, ...] = tuple(
    sorted(
        (
            permutation_equivariance.CLAIM,
            gradient_clipping.CLAIM,
            gru_parameters.CLAIM,
            local_attention.CLAIM,
            padding_invariance.CLAIM,
            lstm_vanishing.CLAIM,
            short_sequences.CLAIM,
            cost_by_length.CLAIM,
            parallel_training.CLAIM,
            streaming_latency.CLAIM,
            warm_up.CLAIM,
            whole_message_latency.CLAIM,
            gru_trains_faster.CLAIM,
            fixed_state_capacity.CLAIM,
            *memory_distance.CLAIMS,
        ),
        key=lambda claim: claim.number,
    )
)
CLAIMS_BY_ID = {claim.id: claim for claim in CLAIMS}


def select(ids: Sequence[str] | None) -> list[Claim]:
    """The claims named by ``ids`` in the registry's order (all of them for None)."""
    if not ids:
        return list(CLAIMS)
    unknown = [claim_id for claim_id in ids if claim_id not in CLAIMS_BY_ID]
    if unknown:
        raise SeqlabError(f"unknown claim '{unknown[0]}'; known claims: {', '.join(CLAIMS_BY_ID)}")
    return [claim for claim in CLAIMS if claim.id in ids]


def run_claims(
    claims: Sequence[Claim],
    *,
    quick: bool = False,
    device: str = "cpu",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ClaimResult]:
    """Measure each claim with its quick or full settings (plus ``overrides[claim.id]``, and the
    device), judge it and draw its figure."""
    results = []
    for claim in claims:
        settings = {**(claim.quick if quick else claim.full), **(overrides or {}).get(claim.id, {})}
        settings["device"] = device
        if progress is not None:
            progress(f"claim {claim.number}: {claim.id}")
        start = time.perf_counter()
        numbers = claim.measure(settings)
        verdict, reason = claim.verdict(numbers)
        figure = claim.figure(numbers)
        seconds = time.perf_counter() - start
        results.append(ClaimResult(claim, settings, numbers, verdict, reason, figure, seconds))
    return results
