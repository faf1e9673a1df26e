"""A forecaster that learns the residual of a baseline: the baseline's forecast plus a learned,
gated correction.

References: Kim et al., 2022, "Reversible Instance Normalization for Accurate Time-Series
Forecasting against Distribution Shift" (RevIN: each window normalised by its own statistics);
Bachlechner et al., 2021, "ReZero is All You Need: Fast Convergence at Large Depth" (a residual
branch scaled by a learned scalar that starts at zero); Zeng et al., 2023, "Are Transformers
Effective for Time Series Forecasting?" (the linear baselines, and their strength on series with
level shifts).

For a window x (T, F) whose forecast columns are x_f (the output_features value columns before
the extra inputs), with a baseline's affine map M (horizon, T), c (horizon,) shared by every
forecast column (seqlab.tasks.forecasting.residual gives each baseline's):

    y_f = M x_f + c + alpha * sigma_f * g((x - mu) / sigma)_f,

where mu and sigma are each value column's mean and standard deviation over the window's T steps
(RevIN's statistics, seqlab.models.forecaster.ReversibleInstanceNorm; sigma_f the forecast
column's), the extra input columns (calendar features) reach g unnormalised, g is the network
(a RecurrentForecaster, TransformerForecaster or ChannelIndependent, built without instance
normalisation of its own) and alpha a learned scalar, 0 at initialisation.

Why. On series whose level drifts between the training and the test periods, a least-squares
map of the window (NLinear above all, whose rows sum to one) extrapolates the level exactly,
where a network must learn it from the training months and errs on levels it never saw. Here
the baseline carries the level and the scale: the network sees only the normalised shape of the
window, and its output is put back on the window's scale by sigma_f (no mu: the level is the
baseline's). With alpha = 0 the model starts exactly at the baseline's forecast, and the
network's share grows only as far as the training loss asks for it (ReZero: at alpha = 0 only
alpha itself receives a gradient from the point forecast), so where the network does not help
the checkpoint that validates best stays near the baseline. M and c are buffers, not
parameters: they are saved with the weights (a loaded model needs no refit) and never trained.

Quantile outputs: g gives Q values per forecast value (``output_quantiles``), sorted,
g_(1) <= ... <= g_(Q); q* is the point level's rank (QuantileOutputs.point of
seqlab.models.forecaster: the 0.5 level, else the middle one). The point level is the gated
correction above and every other level an ungated offset from it:

    y_{f,(q)} = M x_f + c + alpha sigma_f g_(q*) + sigma_f (g_(q) - g_(q*)).

Why. A band's width corrects nothing of the baseline, which has none: gated by alpha, every level
would start at the baseline's forecast, a band of width zero that opens only as alpha grows (a
GRU residual of DLinear on ETTh1, 60 steps: its 80% interval covered 16% of the test values,
the ungated band's 73%). Ungated, the band is the network's from initialisation and the pinball
loss trains it from the first step, while the point level keeps ReZero's start: at alpha = 0 it
is exactly M x_f + c and passes the network no gradient (alpha alone receives one through it).
Offsets from the point level, rather than levels of their own, keep the band centred on the
point forecast, the baseline's or the corrected one.

Non-crossing: sigma_f > 0 and g_(q) - g_(q*) increases with q, so the Q outputs come out in
increasing order for any alpha, and the rearrangement that follows
(seqlab.tasks.forecasting.quantiles) leaves them as they are, its point forecast y_{f,(q*)}.
The sort is that same monotone rearrangement, of g before the gate rather than of y after it;
for alpha >= 0 the point forecast is the one sorting M x_f + c + alpha sigma_f g would give (for
alpha < 0 that would read the mirrored rank of g; here it stays g_(q*)).

Shapes (the repository's legend): B batch, T the window's length, ``horizon`` the steps
forecast, F input columns, F_out forecast columns, E extra input columns, Q quantile levels.
"""

from __future__ import annotations

from typing import Unpack

import torch
from torch import nn

from seqlab.models.baseline_wrapper import BaselineWrapper, WrapperArguments
from seqlab.models.forecaster import ReversibleInstanceNorm


class ResidualForecaster(BaselineWrapper):
    """y_f = M x_f + c + alpha sigma_f g((x - mu) / sigma)_f (module docstring).

    network: the forecaster g, for F input columns and F_out outputs. input_length: T, the one
    window length M reads. extra_inputs: E, the trailing columns passed to g unnormalised.
    weight, bias: M (horizon, T) and c (horizon,); None builds zeros, for a model whose saved
    weights will fill them (seqlab.models.baseline_wrapper holds them).
    """

    def __init__(self, network: nn.Module, **arguments: Unpack[WrapperArguments]) -> None:
        super().__init__(network, **arguments)
        self.instance_norm = ReversibleInstanceNorm()
        # ReZero's gate: 0, so the model starts at the baseline's forecast.
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> forecast (B, horizon, F_out), or (B, horizon, F_out, Q) with quantile
        outputs."""
        self.check_window(x)
        values = self.input_features - self.extra_inputs
        series, extras = x[..., :values], x[..., values:]  # (B, T, F - E), (B, T, E)
        normalised, statistics = self.instance_norm.normalise(series)  # (B, T, F - E)
        correction = self.network(torch.cat([normalised, extras], dim=-1))  # (B, h, F_out[, Q])
        scale = statistics.std[..., self.targets]  # (B, 1, F_out)
        baseline = self.baseline(x)  # (B, horizon, F_out)
        if self.quantiles is None:
            return baseline + self.alpha * scale * correction  # (B, horizon, F_out)
        # (B, horizon, F_out, Q)
        return self._quantile_levels(baseline, scale, correction, rank=self.quantiles.point)

    def _quantile_levels(
        self, baseline: torch.Tensor, scale: torch.Tensor, correction: torch.Tensor, *, rank: int
    ) -> torch.Tensor:
        """The gated point level and the ungated band around it (module docstring): baseline
        (B, horizon, F_out), scale (B, 1, F_out), correction (B, horizon, F_out, Q), rank q* ->
        (B, horizon, F_out, Q), in increasing order."""
        ordered = torch.sort(correction, dim=-1).values  # (B, horizon, F_out, Q)
        point = ordered[..., rank : rank + 1]  # (B, horizon, F_out, 1)
        # The point's own offset is exactly 0, so at alpha = 0 its level is exactly M x_f + c.
        gated = self.alpha * point + (ordered - point)  # (B, horizon, F_out, Q)
        return baseline.unsqueeze(-1) + scale.unsqueeze(-1) * gated  # (B, horizon, F_out, Q)
