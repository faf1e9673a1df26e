"""A forecast that averages a network's forecast with a baseline's, the network trained alone.

References: Bates and Granger, 1969, "The Combination of Forecasts"; Smith and Wallis, 2009, "A
Simple Explanation of the Forecast Combination Puzzle" (weights estimated on a validation
period lose to equal weights more often than not, because the estimates' noise costs more than
the optimum gains); Claeskens, Magnus, Vasnev and Wang, 2016, "The Forecast Combination Puzzle:
A Simple Theoretical Explanation"; Zeng et al., 2023, "Are Transformers Effective for Time
Series Forecasting?" (the linear baselines).

For a window x (T, F) whose forecast columns are x_f, a network's forecast f(x) and a baseline's
affine map M (horizon, T), c (horizon,) shared by every forecast column
(seqlab.tasks.forecasting.residual gives each baseline's):

    y_f = (1 - w) f(x)_f + w (M x_f + c),    w = ``share``, 1/2 by default.

Training mode returns f(x) alone: the network is trained on its own forecast, exactly as
without the combination, and the average exists only in evaluation mode (validation, test,
prediction, export). Training on the average instead would make the network learn
(y - w b) / (1 - w), a residual of the baseline, and lose what the average is for: two
forecasts fitted separately, whose errors are partly independent, so the mean of the two errs
less than either where neither is much better (the variance of a mean of two errors of
variances s1^2 and s2^2 and correlation rho is (s1^2 + s2^2 + 2 rho s1 s2) / 4).

Why equal weights. On ETTh1 the networks beat the linear baselines on the test months while the
validation months favour the baselines; on a synthetic series with a level shift inside its
validation months the reverse. A weight fitted on validation (least squares, clipped to [0, 1])
lost to the plain mean in 15 of 16 families and settings (benchmarks/forecast_combination.py,
BENCHMARKS.md): the combination puzzle of the references. On ETTh1 the plain mean beat its
baseline in every family and setting and its network in 10 of 12; on the synthetic series it
came within 3.5% of the better part, NLinear.

Quantile outputs: the network's Q levels are sorted (the monotone rearrangement of
seqlab.tasks.forecasting.quantiles) and moved together so that the point level q* becomes the
average, y_{f,(q)} = f_(q) + w (M x_f + c - f_(q*)): the band keeps the network's width,
centred on the combined point forecast.

Shapes (the repository's legend): B batch, T the window's length, ``horizon`` the steps
forecast, F input columns, F_out forecast columns, E extra input columns, Q quantile levels.
"""

from __future__ import annotations

from typing import Unpack

import torch
from torch import nn

from seqlab.models.baseline_wrapper import BaselineWrapper, WrapperArguments


class CombinedForecaster(BaselineWrapper):
    """y_f = (1 - share) f(x)_f + share (M x_f + c) in evaluation mode, f(x) in training mode
    (module docstring).

    network: the forecaster f, for F input columns and F_out outputs. input_length: T, the one
    window length M reads. extra_inputs: E, the trailing input-only columns (calendar
    features), which M never reads. weight, bias: M (horizon, T) and c (horizon,); None builds
    zeros, for a model whose saved weights will fill them (seqlab.models.baseline_wrapper holds
    them). share: w, in [0, 1].
    """

    def __init__(
        self, network: nn.Module, *, share: float = 0.5, **arguments: Unpack[WrapperArguments]
    ) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share ({share}) must lie in [0, 1]")
        super().__init__(network, **arguments)
        self.share = share

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> forecast (B, horizon, F_out), or (B, horizon, F_out, Q) with quantile
        outputs: the network's alone in training mode, the combination in evaluation mode."""
        self.check_window(x)
        forecast = self.network(x)  # (B, horizon, F_out[, Q])
        if self.training:
            return forecast
        baseline = self.baseline(x)  # (B, horizon, F_out)
        if self.quantiles is None:
            return forecast + self.share * (baseline - forecast)  # (B, horizon, F_out)
        ordered = torch.sort(forecast, dim=-1).values  # (B, horizon, F_out, Q)
        point = ordered[..., self.quantiles.point]  # (B, horizon, F_out)
        return ordered + (self.share * (baseline - point)).unsqueeze(-1)  # (B, h, F_out, Q)
