"""Claim 8: self-attention without positional encoding is permutation-equivariant.

Vaswani et al. 2017, sec. 3.5: attention has no notion of order, which is why the paper adds
positional encodings. With Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V and a permutation
matrix P, Attention(PQ, PK, PV) = P Attention(Q, K, V); the feed-forward network and LayerNorm act
per position, so a whole encoder f without positions satisfies f(P X) = P f(X). A model that pools
such outputs (mean over positions) sees a bag of tokens and cannot learn anything about order.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqlab.lab.claims.base import Claim, Settings
from seqlab.lab.claims.verdicts import PERMUTATION_RULE, Numbers, permutation_equivariance
from seqlab.lab.figures import plt, png_bytes
from seqlab.nn import SinusoidalPositions, TransformerEncoder

# Token ids of the order task: the two marked tokens, then fillers.
FIRST, SECOND, FILLERS_FROM = 0, 1, 2


def _encoder(settings: Settings) -> TransformerEncoder:
    return TransformerEncoder.build(
        num_layers=settings["layers"],
        d_model=settings["d_model"],
        num_heads=settings["heads"],
        dim_feedforward=2 * settings["d_model"],
        dropout=0.0,
    )


def permutation_difference(settings: Settings, *, positions: bool) -> float:
    """Max |f(P x) - P f(x)| of a random encoder on random input, over every impl path."""
    generator = torch.Generator().manual_seed(settings["seed"])
    torch.manual_seed(settings["seed"])
    encoder = _encoder(settings).double().eval()
    batch, length, width = 4, settings["length"], settings["d_model"]
    tokens = torch.randn(
        batch, length, width, generator=generator, dtype=torch.float64
    )  # (B, T, D)
    order = torch.randperm(length, generator=generator)  # (T,)
    # Positions belong to places, not tokens: under the permutation they stay where they are.
    places = torch.zeros(length, width, dtype=torch.float64)  # (T, D)
    if positions:
        places = SinusoidalPositions(length, width).double()(length)  # (T, D)
    x = tokens + places  # (B, T, D)
    x_permuted = tokens[:, order] + places  # (B, T, D)
    worst = 0.0
    for impl in ("reference", "fused"):
        encoder.impl = impl
        with torch.no_grad():
            output = encoder(x).output  # (B, T, D)
            output_of_permuted = encoder(x_permuted).output  # (B, T, D)
        worst = max(worst, (output_of_permuted - output[:, order]).abs().max().item())
    return worst


def order_batch(size: int, settings: Settings, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Sequences of filler tokens holding FIRST and SECOND once each; label 1 when FIRST comes
    before SECOND. Each bag of tokens occurs with both labels, so order is the only signal."""
    length, vocabulary = settings["length"], settings["vocabulary"]
    tokens = torch.randint(FILLERS_FROM, vocabulary, (size, length), generator=generator)  # (B, T)
    places = torch.rand(size, length, generator=generator).argsort(dim=1)[:, :2]  # (B, 2)
    rows = torch.arange(size)
    tokens[rows, places[:, 0]] = FIRST
    tokens[rows, places[:, 1]] = SECOND
    labels = (places[:, 0] < places[:, 1]).long()  # (B,)
    return tokens, labels


class OrderClassifier(nn.Module):
    """Embedding (+ sinusoidal positions) -> encoder -> mean over positions -> two classes."""

    def __init__(self, settings: Settings, *, positions: bool) -> None:
        super().__init__()
        width = settings["d_model"]
        self.embedding = nn.Embedding(settings["vocabulary"], width)
        self.positions = SinusoidalPositions(settings["length"], width) if positions else None
        self.encoder = _encoder(settings)
        self.head = nn.Linear(width, 2)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.embedding(tokens)  # (B, T, D)
        if self.positions is not None:
            x = x + self.positions(tokens.shape[1])  # (B, T, D)
        pooled = self.encoder(x).output.mean(dim=1)  # (B, D)
        return self.head(pooled)  # (B, C)


def order_accuracy(settings: Settings, *, positions: bool, seed: int) -> float:
    """Train the classifier on fresh batches, return its accuracy on held-out examples."""
    torch.manual_seed(seed)
    device = settings["device"]
    model = OrderClassifier(settings, positions=positions).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    generator = torch.Generator().manual_seed(seed)
    for _ in range(settings["steps"]):
        tokens, labels = order_batch(settings["batch_size"], settings, generator)
        loss = nn.functional.cross_entropy(model(tokens.to(device)), labels.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tokens, labels = order_batch(settings["test_examples"], settings, generator)
    model.eval()
    with torch.no_grad():
        predictions = model(tokens.to(device)).argmax(dim=1).cpu()  # (B,)
    return (predictions == labels).float().mean().item()


def measure(settings: Settings) -> dict[str, Any]:
    seeds = list(range(settings["seeds"]))
    without = [order_accuracy(settings, positions=False, seed=seed) for seed in seeds]
    with_positions = [order_accuracy(settings, positions=True, seed=seed) for seed in seeds]
    return {
        "max_abs_difference": permutation_difference(settings, positions=False),
        "max_abs_difference_with_positions": permutation_difference(settings, positions=True),
        "tolerance": settings["tolerance"],
        "accuracy_without_positions": sum(without) / len(without),
        "accuracy_with_positions": sum(with_positions) / len(with_positions),
        "per_seed": {"without_positions": without, "with_positions": with_positions},
        "chance": 0.5,
    }


def figure(numbers: Numbers) -> bytes:
    chart, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = ["no positions", "sinusoidal positions"]
    differences = [numbers["max_abs_difference"], numbers["max_abs_difference_with_positions"]]
    # Floor exact zeros so they still show on the log scale.
    left.bar(labels, [max(d, 1e-18) for d in differences], color=["#9467bd", "#7f7f7f"])
    left.axhline(numbers["tolerance"], color="grey", linestyle="--", label="tolerance")
    left.set_yscale("log")
    left.set_ylabel("max |f(Px) - P f(x)|")
    left.set_title("Permuting the input (float64)")
    left.legend(fontsize=8)
    per_seed = numbers["per_seed"]
    for place, key in enumerate(("without_positions", "with_positions")):
        values = per_seed[key]
        right.scatter([place] * len(values), values, color="#9467bd", zorder=3)
    right.bar(labels, [numbers["accuracy_without_positions"], numbers["accuracy_with_positions"]],
              color=["#d3c4e6", "#d3c4e6"])  # fmt: skip
    right.axhline(numbers["chance"], color="grey", linestyle="--", label="chance")
    right.set_ylim(0, 1.05)
    right.set_ylabel("test accuracy (dots: seeds)")
    right.set_title("Which marked token comes first?")
    right.legend(fontsize=8)
    return png_bytes(chart)


CLAIM = Claim(
    number=8,
    id="permutation-equivariance",
    statement=(
        "Self-attention without positional encoding is permutation-equivariant: permuting the "
        "input permutes the output exactly; an order-dependent task fails without positions and "
        "succeeds with them."
    ),
    design=(
        "A seqlab.nn.TransformerEncoder with random weights and no positions reads random "
        "vectors (float64, both the reference and the fused attention path) and the same vectors "
        "permuted; the claim needs the outputs to be the same rows permuted (the largest absolute "
        "difference), and the same check with sinusoidal positions shows the test can fail. Then "
        "a small classifier (embedding, the encoder, mean over positions, a linear layer) is "
        "trained, over seeds, to say which of two marked tokens comes first among random "
        "fillers, once without positions and once with sinusoidal positions, and tested on "
        "fresh examples (chance 50%)."
    ),
    rule=PERMUTATION_RULE,
    verdict=permutation_equivariance,
    measure=measure,
    figure=figure,
    quick={"length": 8, "vocabulary": 8, "d_model": 32, "heads": 2, "layers": 1,
           "steps": 300, "batch_size": 64, "learning_rate": 3e-3, "seeds": 2,
           "test_examples": 512, "tolerance": 1e-9, "seed": 0},
    full={"length": 12, "vocabulary": 12, "d_model": 32, "heads": 2, "layers": 2,
          "steps": 800, "batch_size": 64, "learning_rate": 3e-3, "seeds": 5,
          "test_examples": 2048, "tolerance": 1e-9, "seed": 0},
)  # fmt: skip
