"""The claims whose experiments are not built yet: listed with their statements, so the report
shows every claim the study material makes, each judged ``not yet measurable``."""

from __future__ import annotations

from seqlab.lab.claims.base import Claim
from seqlab.lab.claims.verdicts import PENDING_RULE, pending

_NOT_BUILT = "The experiment is not built yet; the claim is listed so the report shows every claim."

_STATEMENTS = {
    1: ("vanishing-gradients-rnn",
        "Vanilla RNNs fail to learn dependencies beyond about 10 to 20 steps (vanishing "
        "gradients)."),
    2: ("gated-rnn-reach",
        "LSTMs and GRUs extend this to hundreds of steps, and LSTMs still struggle near 1,000."),
    3: ("transformer-any-distance", "Transformers capture dependencies at any distance."),
}  # fmt: skip

CLAIMS = tuple(
    Claim(
        number=number,
        id=claim_id,
        statement=statement,
        design=_NOT_BUILT,
        rule=PENDING_RULE,
        verdict=pending,
    )  # fmt: skip
    for number, (claim_id, statement) in _STATEMENTS.items()
)
