"""Claim 14: Transformers handle variable-length sequences through padding and masking.

Vaswani et al. 2017, sec. 3.2.3: a mask sets the scores of illegal connections to -inf before the
softmax, so they receive exactly zero weight. A key padding mask (seqlab.nn.masks: True = real
token) removes padded keys from every softmax; the feed-forward network and LayerNorm act per
position; so a sequence's outputs at its real positions cannot depend on what, or how much, is
padded beside it. The decoder adds the causal mask (position t sees keys 0..t) and a padded
memory behind cross-attention; the same argument holds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from seqlab.lab.claims.base import Claim, Settings
from seqlab.lab.claims.verdicts import PADDING_RULE, Numbers, padding_invariance
from seqlab.lab.figures import plt, png_bytes
from seqlab.nn import TransformerDecoder, TransformerEncoder, padding_mask


def _padded(x: Tensor, padding: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """x (1, T, D) followed by `padding` random vectors (not zeros: a mask must hide any value),
    and its mask (1, T + padding), True at the real positions."""
    junk = 100 * torch.randn(1, padding, x.shape[2], generator=generator, dtype=x.dtype)
    padded = torch.cat([x, junk], dim=1)  # (1, T + padding, D)
    mask = padding_mask(torch.tensor([x.shape[1]]), x.shape[1] + padding)  # (1, T + padding)
    return padded, mask


def measure(settings: Settings) -> dict[str, Any]:
    torch.manual_seed(settings["seed"])
    generator = torch.Generator().manual_seed(settings["seed"])
    dtype = getattr(torch, settings["dtype"])
    shape = {"num_layers": settings["layers"], "d_model": settings["d_model"],
             "num_heads": settings["heads"], "dim_feedforward": 2 * settings["d_model"],
             "dropout": 0.0}  # fmt: skip
    encoder = TransformerEncoder.build(**shape).to(dtype).eval()
    decoder = TransformerDecoder.build(**shape).to(dtype).eval()
    length, width = settings["length"], settings["d_model"]
    source = torch.randn(1, length, width, generator=generator, dtype=dtype)  # (1, S, D)
    target = torch.randn(1, length, width, generator=generator, dtype=dtype)  # (1, T, D)
    differences: dict[str, dict[str, float]] = {"encoder": {}, "decoder": {}}
    with torch.no_grad():
        encoded = encoder(source).output  # (1, S, D)
        decoded = decoder(target, source).output  # (1, T, D)
        for padding in settings["paddings"]:
            source_padded, source_mask = _padded(source, padding, generator)
            target_padded, target_mask = _padded(target, padding, generator)
            encoded_padded = encoder(source_padded, key_padding_mask=source_mask).output
            decoded_padded = decoder(
                target_padded,
                source_padded,
                target_padding_mask=target_mask,
                memory_padding_mask=source_mask,
            ).output  # (1, T + padding, D)
            differences["encoder"][str(padding)] = (
                (encoded_padded[:, :length] - encoded).abs().max().item()
            )
            differences["decoder"][str(padding)] = (
                (decoded_padded[:, :length] - decoded).abs().max().item()
            )
    return {
        "paddings": list(settings["paddings"]),
        "tolerance": settings["tolerance"],
        "encoder": {"max_abs_difference": differences["encoder"]},
        "decoder": {"max_abs_difference": differences["decoder"]},
    }


def figure(numbers: Numbers) -> bytes:
    chart, axis = plt.subplots(figsize=(6.4, 3.8))
    paddings = numbers["paddings"]
    for part, colour in (("encoder", "#9467bd"), ("decoder", "#ff7f0e")):
        values = numbers[part]["max_abs_difference"]
        # Floor exact zeros so they still show on the log scale.
        axis.plot(paddings, [max(values[str(p)], 1e-18) for p in paddings], "o-", color=colour,
                  label=part)  # fmt: skip
    axis.axhline(numbers["tolerance"], color="grey", linestyle="--", label="tolerance")
    axis.set_yscale("log")
    axis.set_xlabel("padding positions beside the sequence")
    axis.set_ylabel("max |output change| at real positions")
    axis.set_title("Padding changes nothing it should not (floored at 1e-18)")
    axis.legend(fontsize=8)
    return png_bytes(chart)


CLAIM = Claim(
    number=14,
    id="padding-invariance",
    statement=(
        "Transformers handle variable-length sequences through padding and masking: a sequence's "
        "outputs are unchanged (to float tolerance) by the amount of padding beside it, for "
        "encoder and decoder."
    ),
    design=(
        "A seqlab.nn.TransformerEncoder and TransformerDecoder with random weights (no dropout) "
        "read one sequence unpadded, then with 1 to N positions of large random padding after "
        "it, masked by a key padding mask (the decoder: causal and target padding masks, and "
        "the padded encoder input as its memory with a memory padding mask). The measurement is "
        "the largest absolute change of the outputs at the real positions, per amount of padding."
    ),
    rule=PADDING_RULE,
    verdict=padding_invariance,
    measure=measure,
    figure=figure,
    quick={"length": 6, "d_model": 32, "heads": 4, "layers": 2, "paddings": list(range(9)),
           "dtype": "float32", "tolerance": 1e-5, "seed": 0},
    full={"length": 16, "d_model": 64, "heads": 4, "layers": 4, "paddings": list(range(33)),
          "dtype": "float32", "tolerance": 1e-5, "seed": 0},
)  # fmt: skip
