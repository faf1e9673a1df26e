"""What the forecasters built around a baseline share: the network, the sizes, and the baseline's
affine map of the window with its forecast.

seqlab.models.residual_forecaster (the network learns the baseline's residual) and
seqlab.models.combined_forecaster (the network's forecast averaged with the baseline's) both
hold a baseline as an affine map M (horizon, T), c (horizon,) shared by every forecast column
(seqlab.tasks.forecasting.residual gives each baseline's), and forecast column f of a window x
(T, F) by M x_f + c. M and c are buffers, not parameters: saved with the weights (a loaded model
needs no refit) and never trained.

Shapes (the repository's legend): B batch, T the window's length, ``horizon`` the steps
forecast, F input columns, F_out forecast columns (the output_features value columns before
the E extra input columns), Q quantile levels.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

import torch
from torch import nn

from seqlab.models.forecaster import QuantileOutputs


class WrapperArguments(TypedDict):
    """The keyword arguments of BaselineWrapper, which its subclasses pass on unchanged."""

    input_features: int
    input_length: int
    horizon: int
    output_features: int
    extra_inputs: NotRequired[int]
    weight: NotRequired[torch.Tensor | None]
    bias: NotRequired[torch.Tensor | None]


class BaselineWrapper(nn.Module):
    """A network and a baseline's map M x_f + c, for subclasses to combine in ``forward``.

    network: the forecaster, for F input columns and F_out outputs. input_length: T, the one
    window length M reads. extra_inputs: E, the trailing input-only columns (calendar features),
    which M never reads. weight, bias: M (horizon, T) and c (horizon,); None builds zeros, for a
    model whose saved weights will fill them.
    """

    baseline_weight: torch.Tensor  # (horizon, T): M
    baseline_bias: torch.Tensor  # (horizon,): c

    def __init__(
        self,
        network: nn.Module,
        *,
        input_features: int,
        input_length: int,
        horizon: int,
        output_features: int,
        extra_inputs: int = 0,
        weight: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        values = input_features - extra_inputs
        if input_length < 1 or horizon < 1 or extra_inputs < 0:
            raise ValueError(
                f"input_length ({input_length}) and horizon ({horizon}) must be positive and "
                f"extra_inputs ({extra_inputs}) >= 0"
            )
        if not 1 <= output_features <= values:
            raise ValueError(
                f"output_features ({output_features}) must be between 1 and the "
                f"{values} value columns (input_features {input_features} less extra_inputs "
                f"{extra_inputs})"
            )
        self.network = network
        self.input_features = input_features
        # What export reads: a fixed window length (M has T columns).
        self.input_length = input_length
        self.horizon = horizon
        self.output_features = output_features
        self.extra_inputs = extra_inputs
        self.targets = slice(values - output_features, values)
        self.quantiles: QuantileOutputs | None = None
        weight = torch.zeros(horizon, input_length) if weight is None else weight
        bias = torch.zeros(horizon) if bias is None else bias
        if tuple(weight.shape) != (horizon, input_length) or tuple(bias.shape) != (horizon,):
            raise ValueError(
                f"weight {tuple(weight.shape)} and bias {tuple(bias.shape)} must be "
                f"(horizon, T) = ({horizon}, {input_length}) and ({horizon},)"
            )
        default = torch.get_default_dtype()
        self.register_buffer("baseline_weight", weight.detach().to(default).clone())  # (h, T)
        self.register_buffer("baseline_bias", bias.detach().to(default).clone())  # (horizon,)

    def output_quantiles(self, quantiles: QuantileOutputs) -> None:
        """Q forecasts per value from now on: the network's output layer is widened (its
        ``output_quantiles``); the subclass's ``forward`` says how the baseline joins them."""
        quantiles.check()
        widen = getattr(self.network, "output_quantiles", None)
        if widen is None:
            raise TypeError(f"{type(self.network).__name__} has no quantile outputs")
        widen(quantiles)
        self.quantiles = quantiles

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """M x_f + c of each forecast column: x (B, T, F) -> (B, horizon, F_out)."""
        targets = x[..., self.targets]  # (B, T, F_out)
        forecast = torch.matmul(self.baseline_weight, targets)  # (B, horizon, F_out)
        return forecast + self.baseline_bias[:, None]  # (B, horizon, F_out)

    def check_window(self, x: torch.Tensor) -> None:
        """Refuse a window that is not (B, T, F) with this model's T and F."""
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.input_length, self.input_features):
            raise ValueError(
                f"x must be (B, T, F) = (B, {self.input_length}, {self.input_features}); got "
                f"shape {tuple(x.shape)}"
            )
