"""The verdict words of ``seqlab claims`` and the rules of claims 6, 8 to 11, 13 and 14: pure
functions from a claim's measured numbers to a verdict and the reason for it, so that no verdict
is ever written by hand.

Every verdict is one of ``VERDICTS``. Every other claim keeps its rule at the top of its own
module, under ``# ---- verdict rule ----``, beside the measurement whose numbers it reads. Each
rule's wording (``*_RULE``) is printed in the report beside the claim it judges, and the tests
reach every verdict a rule can give with synthetic numbers. A caveat always says what the
verdict depends on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HOLDS = "holds"
HOLDS_WITH_CAVEAT = "holds with a caveat"
DOES_NOT_HOLD = "does not hold here"
NOT_YET_MEASURABLE = "not yet measurable"
VERDICTS = (HOLDS, HOLDS_WITH_CAVEAT, DOES_NOT_HOLD, NOT_YET_MEASURABLE)

Numbers = Mapping[str, Any]
Verdict = tuple[str, str]

# An order task counts as learned at this test accuracy, and as unlearned (at chance, 0.5) below
# chance plus this margin: about four standard errors of an accuracy near 0.5 on 512 examples.
ORDER_LEARNED = 0.9
CHANCE_MARGIN = 0.1

PERMUTATION_RULE = (
    f"does not hold here if permuting the input changes the output beyond the tolerance, or if "
    f"the order task is learned without positions (test accuracy above chance + {CHANCE_MARGIN}); "
    f"holds if the output permutes within tolerance, the order task stays at chance without "
    f"positions and reaches {ORDER_LEARNED:.0%} with them; holds with a caveat if equivariance "
    f"holds but the model with positions stayed below {ORDER_LEARNED:.0%} in the step budget."
)


def permutation_equivariance(numbers: Numbers) -> Verdict:
    difference = numbers["max_abs_difference"]
    tolerance = numbers["tolerance"]
    without = numbers["accuracy_without_positions"]
    with_positions = numbers["accuracy_with_positions"]
    chance = numbers["chance"]
    if difference > tolerance:
        return DOES_NOT_HOLD, (
            f"permuting the input changed the output by {difference:.2e} (> {tolerance:.0e})"
        )
    if without > chance + CHANCE_MARGIN:
        return DOES_NOT_HOLD, (
            f"the order task reached {without:.1%} without positions (chance {chance:.0%})"
        )
    if with_positions < ORDER_LEARNED:
        return HOLDS_WITH_CAVEAT, (
            f"the output permutes exactly (max difference {difference:.1e}) and the order task "
            f"stays at chance without positions ({without:.1%}), but with positions it reached "
            f"only {with_positions:.1%} in this step budget: depends on the training budget"
        )
    return HOLDS, (
        f"the output permutes exactly (max difference {difference:.1e}); the order task: "
        f"{without:.1%} without positions, {with_positions:.1%} with them"
    )


# Accuracies this close count as "performs similarly" (about the noise of one seed's test score).
SIMILAR_ACCURACY = 0.05
GRU_PARAMETERS_RULE = (
    "does not hold here if seqlab's counts differ from torch.nn's or the equations', or the GRU "
    "has at least as many parameters as the LSTM; holds if the GRU has fewer and, at equal "
    f"parameters, its accuracy on the memory task is within {SIMILAR_ACCURACY} of the LSTM's; "
    "holds with a "
    "caveat if the GRU has fewer but the equal-parameter comparison was not measured; does not "
    f"hold here if it was and they differ by more than {SIMILAR_ACCURACY}."
)


def gru_fewer_parameters(numbers: Numbers) -> Verdict:
    widths = numbers["widths"]
    for width in widths:
        counts = numbers["counts"][str(width)]
        gru_references = {counts["torch_gru"], counts["equation_gru"]}
        lstm_references = {counts["torch_lstm"], counts["equation_lstm"]}
        if gru_references != {counts["gru"]} or lstm_references != {counts["lstm"]}:
            return DOES_NOT_HOLD, (
                f"at width {width} seqlab's counts differ from torch.nn's or the equations'"
            )
        if counts["gru"] >= counts["lstm"]:
            return DOES_NOT_HOLD, (
                f"at width {width} the GRU has {counts['gru']:,} parameters, the LSTM "
                f"{counts['lstm']:,}"
            )
    ratios = ", ".join(f"{numbers['counts'][str(w)]['ratio']:.3f}" for w in widths)
    fewer = f"the GRU has fewer parameters at every width (GRU/LSTM {ratios}; equations: 3/4)"
    gap = numbers.get("accuracy_gap")
    if gap is None:
        return HOLDS_WITH_CAVEAT, (
            f"{fewer}; 'performs similarly at equal parameters' is not measured here yet"
        )
    if abs(gap) > SIMILAR_ACCURACY:
        return DOES_NOT_HOLD, (
            f"{fewer}, but at equal parameters their accuracies differ by {abs(gap):.2f}"
        )
    return HOLDS, f"{fewer}; at equal parameters their accuracies differ by {abs(gap):.2f}"


PADDING_RULE = (
    "holds if, for the encoder (key padding mask) and the decoder (causal + padding masks), the "
    "outputs at a sequence's real positions differ from its unpadded outputs by at most the "
    "tolerance at every amount of padding; otherwise does not hold here."
)


def padding_invariance(numbers: Numbers) -> Verdict:
    tolerance = numbers["tolerance"]
    worst = {
        part: max(numbers[part]["max_abs_difference"].values()) for part in ("encoder", "decoder")
    }
    broken = [part for part, difference in worst.items() if difference > tolerance]
    if broken:
        return DOES_NOT_HOLD, ", ".join(
            f"the {part}'s outputs changed by {worst[part]:.2e} with padding" for part in broken
        ) + f" (> {tolerance:.0e})"
    return HOLDS, (
        f"the outputs at real positions never moved by more than "
        f"{max(worst.values()):.1e} (encoder and decoder, padding 0 to "
        f"{max(numbers['paddings'])})"
    )


# Slower by at least this factor: beyond the jitter between medians of repeated timings.
SLOWER_FACTOR = 1.1
SHORT_SEQUENCE_RULE = (
    f"with the ratio the Transformer layer's median batch-1 forward latency over the LSTM's at "
    f"equal parameters: holds with a caveat (the hardware, named) if the ratio is at least "
    f"{SLOWER_FACTOR} at every short length (2 and 3); otherwise does not hold here. A latency "
    f"is a property of the hardware and its kernels, so this claim never simply holds."
)


def short_sequence_overhead(numbers: Numbers) -> Verdict:
    short = numbers["short_lengths"]
    ratios = ", ".join(f"{numbers['ratio'][str(n)]:.2f} at length {n}" for n in short)
    hardware = numbers["hardware"]
    if all(numbers["ratio"][str(n)] >= SLOWER_FACTOR for n in short):
        return HOLDS_WITH_CAVEAT, (
            f"the Transformer layer is slower than the LSTM (ratio {ratios}): depends on the "
            f"hardware, here {hardware}"
        )
    return DOES_NOT_HOLD, (
        f"the Transformer layer is not clearly slower (ratio {ratios}) on {hardware}"
    )


GRADIENT_CLIPPING_RULE = (
    "a run explodes if any step's loss or gradient is non-finite or its final loss (mean of the "
    "last tenth of the steps) is above its initial loss (the first tenth). Does not hold here if "
    "the unclipped run did not explode (the explosion depends on the initialisation and the "
    "learning rate) or if the clipped run did; holds if the unclipped run exploded and the "
    "clipped one stayed finite and lowered its loss; holds with a caveat if the clipped one "
    "stayed finite but did not lower its loss in the step budget."
)


def _exploded(run: Numbers) -> bool:
    final, initial = run["final_loss"], run["initial_loss"]
    if run["non_finite_steps"] > 0 or final is None or initial is None:
        return True
    return bool(final > initial)


def _describe_run(run: Numbers) -> str:
    final = "non-finite" if run["final_loss"] is None else f"{run['final_loss']:.3g}"
    initial = "non-finite" if run["initial_loss"] is None else f"{run['initial_loss']:.3g}"
    return (
        f"loss {initial} -> {final}, {run['non_finite_steps']} of {run['steps']} steps non-finite"
    )


def gradient_clipping(numbers: Numbers) -> Verdict:
    unclipped, clipped = numbers["unclipped"], numbers["clipped"]
    runs = f"without clipping {_describe_run(unclipped)}; clipped {_describe_run(clipped)}"
    setup = f"initialisation {numbers['initialisation']}, learning rate {numbers['learning_rate']}"
    if not _exploded(unclipped):
        return DOES_NOT_HOLD, (
            f"the unclipped run did not explode either ({runs}): depends on the initialisation "
            f"and learning rate ({setup})"
        )
    if clipped["non_finite_steps"] > 0 or clipped["final_loss"] is None:
        return DOES_NOT_HOLD, f"the clipped run exploded too ({runs}; {setup})"
    if _exploded(clipped):
        return HOLDS_WITH_CAVEAT, (
            f"clipping kept every step finite but the loss did not fall in this budget ({runs}): "
            f"depends on the learning rate and step budget ({setup})"
        )
    return HOLDS, f"clipping prevented the explosion ({runs}; {setup})"


# "Far above" and "well below": two orders of magnitude, far beyond the spread between seeds.
MITIGATION_FACTOR = 100.0
VANISHED_FRACTION = 0.01
LSTM_VANISHING_RULE = (
    f"with g(d) the gradient norm at distance d: does not hold here if the LSTM's g(long) is not "
    f"{MITIGATION_FACTOR:.0f} times the RNN's (no mitigation), or if it is above "
    f"{VANISHED_FRACTION} of its own g(short) (the gradient did not vanish); holds if both hold "
    f"at the claim's distance (1,000); holds with a caveat if both hold at a shorter long "
    f"distance than the claim's. The values depend on the initialisation, which is named."
)


def lstm_still_vanishes(numbers: Numbers) -> Verdict:
    short, long = numbers["short_distance"], numbers["long_distance"]
    lstm, rnn = numbers["gradient"]["lstm"], numbers["gradient"]["rnn"]
    init = f"LSTM initialised with {numbers['lstm_init']}"
    kept = lstm["long"] / lstm["short"] if lstm["short"] > 0 else 0.0
    measured = (
        f"at d = {long} the LSTM's gradient is {lstm['long']:.1e} against the RNN's "
        f"{rnn['long']:.1e}, and {kept:.1e} of its own at d = {short}"
    )
    if lstm["long"] <= MITIGATION_FACTOR * rnn["long"]:
        return DOES_NOT_HOLD, f"no mitigation: {measured} ({init})"
    if kept > VANISHED_FRACTION:
        return DOES_NOT_HOLD, f"the LSTM's gradient did not vanish: {measured} ({init})"
    if long < numbers["claim_distance"]:
        return HOLDS_WITH_CAVEAT, (
            f"{measured}; measured at d = {long}, not the claim's {numbers['claim_distance']}: "
            f"depends on the distance ({init})"
        )
    return HOLDS, f"{measured} ({init})"
