"""Tiny tasks implementing seqlab.train.TrainableTask, for the engine's tests.

RegressionTask: noisy linear regression with an optional item mask (so micro-batches cover
different item counts) and hooks to inject NaN losses, sleep, or script validation metrics.
StreamTask: a truncated-BPTT stream through a one-layer GRU, carrying its hidden state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from seqlab.train import StepLoss, TrainConfig


def small_train_config(**changes: object) -> TrainConfig:
    """A short run for the toy tasks: 6 steps of 4 items, inverse-sqrt warm-up over 3, an
    evaluation every 4 steps, on the CPU with seed 3; ``changes`` override any field."""
    base: dict[str, object] = dict(
        steps=6, batch_size=4, lr=0.05, schedule="inverse_sqrt", warmup_steps=3,
        grad_clip=1.0, eval_every=4, log_every=1, device="cpu", seed=3,
    )  # fmt: skip
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


def regression_model(*, dropout: float = 0.0, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(3, 8), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(8, 1))
    return nn.Sequential(*layers).double()


def flat_parameters(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])


@dataclass
class RegressionBatch:
    x: torch.Tensor  # (B, 3)
    y: torch.Tensor  # (B, 1)
    mask: torch.Tensor  # (B,) True = item counts toward the loss


class RegressionTask:
    """y = x @ w + noise on 24 training rows, streamed in a per-epoch permutation."""

    def __init__(
        self,
        *,
        batch_size: int = 4,
        seed: int = 0,
        masked: bool = False,
        nan_batches: frozenset[int] = frozenset(),
        nan_from: int | None = None,
        sleep_seconds: float = 0.0,
        scripted_val: list[float] | None = None,
    ) -> None:
        generator = torch.Generator().manual_seed(1234)
        self.x = torch.randn(24, 3, generator=generator, dtype=torch.float64)
        true_w = torch.tensor([[1.5], [-2.0], [0.5]], dtype=torch.float64)
        self.y = self.x @ true_w + 0.1 * torch.randn(
            24, 1, generator=generator, dtype=torch.float64
        )
        self.val_x = torch.randn(8, 3, generator=generator, dtype=torch.float64)
        self.val_y = self.val_x @ true_w
        self.batch_size = batch_size
        self.seed = seed
        self.masked = masked
        self.nan_batches = nan_batches
        self.nan_from = nan_from
        self.sleep_seconds = sleep_seconds
        self.scripted_val = scripted_val
        self.seen: list[tuple[int, torch.Tensor]] = []  # (batch index, weights at its loss call)
        self.evaluated: list[torch.Tensor] = []  # weights at each evaluation

    @property
    def stateful(self) -> bool:
        return False

    def train_batch(self, index: int) -> RegressionBatch:
        positions = range(index * self.batch_size, (index + 1) * self.batch_size)
        rows = []
        for position in positions:
            epoch, offset = divmod(position, len(self.x))
            order = torch.randperm(
                len(self.x), generator=torch.Generator().manual_seed(self.seed * 1000 + epoch)
            )
            rows.append(int(order[offset]))
        picked = torch.tensor(rows)
        mask = picked % 3 != 0 if self.masked else torch.ones(len(rows), dtype=torch.bool)
        self._last_index = index
        return RegressionBatch(x=self.x[picked], y=self.y[picked], mask=mask)

    def loss(self, model: nn.Module, batch: RegressionBatch, state: object = None) -> StepLoss:
        assert state is None
        self.seen.append((self._last_index, flat_parameters(model)))
        if self.sleep_seconds:
            time.sleep(self.sleep_seconds)
        prediction = model(batch.x)  # (B, 1)
        squared = ((prediction - batch.y) ** 2).squeeze(-1) * batch.mask  # (B,)
        loss_sum = squared.sum()
        index = self._last_index
        if index in self.nan_batches or (self.nan_from is not None and index >= self.nan_from):
            loss_sum = loss_sum * float("nan")  # still attached to the graph, like a real NaN
        count = int(batch.mask.sum())
        return StepLoss(loss_sum=loss_sum, count=count, tokens=len(batch.x))

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        assert split == "val"
        assert not model.training and not torch.is_grad_enabled()
        self.evaluated.append(flat_parameters(model))
        torch.rand(1)  # like a sampled metric: evaluation draws from the RNG training uses
        mse = float(((model(self.val_x) - self.val_y) ** 2).mean())
        if self.scripted_val is not None:
            scripted = self.scripted_val[len(self.evaluated) - 1]
            return {"loss": scripted, "accuracy": -scripted, "mse": mse}
        return {"loss": mse, "mse": mse}


class StreamModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.gru = nn.GRU(input_size=1, hidden_size=4, batch_first=True)
        self.head = nn.Linear(4, 1)
        self.double()

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output, state = self.gru(x, state)  # (B, T, 4), (1, B, 4)
        return self.head(output), state  # (B, T, 1)


class StreamTask:
    """Predict the next value of two long sine-plus-noise streams, 5 steps per segment."""

    segment = 5

    def __init__(self, *, nan_batches: frozenset[int] = frozenset()) -> None:
        self.nan_batches = nan_batches
        generator = torch.Generator().manual_seed(7)
        t = torch.arange(400, dtype=torch.float64)
        noise = 0.1 * torch.randn(2, 400, generator=generator, dtype=torch.float64)
        self.series = (torch.sin(t / 4) + noise).unsqueeze(-1)  # (B=2, 400, 1)
        self.incoming: list[torch.Tensor | None] = []
        self.outgoing: list[torch.Tensor] = []

    @property
    def stateful(self) -> bool:
        return True

    def train_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._last_index = index
        start = (index * self.segment) % (self.series.shape[1] - self.segment - 1)
        x = self.series[:, start : start + self.segment]  # (B, T, 1)
        y = self.series[:, start + 1 : start + self.segment + 1]  # (B, T, 1)
        return x, y

    def loss(
        self,
        model: nn.Module,
        batch: tuple[torch.Tensor, torch.Tensor],
        state: torch.Tensor | None = None,
    ) -> StepLoss:
        self.incoming.append(state)
        x, y = batch
        prediction, new_state = model(x, state)
        self.outgoing.append(new_state)
        loss_sum = ((prediction - y) ** 2).sum()
        if self._last_index in self.nan_batches:
            loss_sum = loss_sum * float("nan")
        return StepLoss(loss_sum=loss_sum, count=y.numel(), tokens=y.numel(), state=new_state)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        x = self.series[:, :-1]
        prediction, _ = model(x, None)
        return {"loss": float(((prediction - self.series[:, 1:]) ** 2).mean())}
