"""The forecaster a run's model config describes, sized for its data (seqlab.models.forecaster).

References: Nie et al., 2023, "A Time Series is Worth 64 Words" (PatchTST: patches, and channel
independence, one univariate network shared by every series); Lin et al., 2023, "SegRNN"
(a recurrent network stepping once per segment).

Channel independence (``model.channel_independent``) is on by default exactly when every column
is forecast (features M) and there are several: with one column it would change nothing but the
weights' names, and with features MS it would drop the input columns besides the target.

With ``model.residual_of`` the network is wrapped in a ResidualForecaster
(seqlab.models.residual_forecaster) that adds it, gated, to a baseline's forecast; the wrapper
normalises each window itself, so the network is built without instance normalisation
(``model.instance_norm`` is then not used). With ``model.combine_with`` the forecaster (the
residual one, when both are set) is wrapped in a CombinedForecaster
(seqlab.models.combined_forecaster) that averages its forecast with a baseline's.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.models.baseline_wrapper import WrapperArguments
from seqlab.models.combined_forecaster import CombinedForecaster
from seqlab.models.config import ModelConfig, RecurrentConfig, TransformerConfig
from seqlab.models.forecaster import (
    ChannelIndependent,
    RecurrentForecaster,
    TransformerForecaster,
)
from seqlab.models.residual_forecaster import ResidualForecaster
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.residual import AffineMap
from seqlab.utils.seeding import init_generator


def build_model(
    config: ModelConfig,
    data: ForecastingData,
    *,
    seed: int,
    residual_map: AffineMap | None = None,
    combination_map: AffineMap | None = None,
) -> nn.Module:
    """The forecaster for ``data``'s columns and windows; ``seed`` seeds a recurrent network's
    initialisation (its own generator, as every run of that seed). With ``model.residual_of``
    set, the network inside a ResidualForecaster of ``residual_map``; with
    ``model.combine_with``, inside a CombinedForecaster of ``combination_map`` (None: zeros,
    for a model whose saved weights hold the map)."""
    if not isinstance(config, (TransformerConfig, RecurrentConfig)):
        raise SeqlabError(f"forecasting does not train model family '{config.family}'")
    if config.residual_of is None:
        model = _network(config, data, seed=seed)
    else:
        # The wrapper normalises the window; a second normalisation inside would do nothing.
        network = _network(dataclasses.replace(config, instance_norm=False), data, seed=seed)
        model = ResidualForecaster(network, **_wrapper_arguments(data, residual_map))
    if config.combine_with is None:
        return model
    return CombinedForecaster(model, **_wrapper_arguments(data, combination_map))


def _wrapper_arguments(data: ForecastingData, affine: AffineMap | None) -> WrapperArguments:
    """What a baseline wrapper (residual or combined) is built with: the data's sizes and the
    baseline's map as weight (horizon, T) and bias (horizon,), or None each."""
    weight = bias = None
    if affine is not None:
        weight, bias = torch.from_numpy(affine.weight), torch.from_numpy(affine.bias)
    return {
        "input_features": len(data.columns) + data.extra_inputs,
        "input_length": data.config.input_length,
        "horizon": data.config.horizon,
        "output_features": data.output_features,
        "extra_inputs": data.extra_inputs,
        "weight": weight,
        "bias": bias,
    }


def _network(
    config: TransformerConfig | RecurrentConfig, data: ForecastingData, *, seed: int
) -> nn.Module:
    """The network alone (build_model's, without a residual wrapper)."""
    columns, outputs = len(data.columns), data.output_features
    features = columns + data.extra_inputs
    every_column_forecast = outputs == columns
    independent = config.channel_independent
    if independent is None:
        independent = every_column_forecast and columns > 1
    if not independent:
        return _forecaster(
            config, data, input_features=features, output_features=outputs, seed=seed
        )
    if not every_column_forecast:
        raise SeqlabError(
            f"model.channel_independent forecasts each column from itself alone, so with "
            f"data.features {data.config.features} the {columns - 1} input columns "
            "besides the target would be dropped; use --features M or S, or set "
            "model.channel_independent=false"
        )
    inner = _forecaster(
        config, data, input_features=1 + data.extra_inputs, output_features=1, seed=seed
    )
    return ChannelIndependent(
        inner,
        input_features=features,
        output_features=outputs,
        extra_inputs=data.extra_inputs,
    )


def _forecaster(
    config: TransformerConfig | RecurrentConfig,
    data: ForecastingData,
    *,
    input_features: int,
    output_features: int,
    seed: int,
) -> nn.Module:
    length, horizon = data.config.input_length, data.config.horizon
    patch = config.patch_length or 1
    if length % patch:
        raise SeqlabError(
            f"data.input_length ({length}) must be divisible by model.patch_length "
            f"({patch}); set model.patch_length to a divisor of it, or null to read one "
            "time step at a time"
        )
    if isinstance(config, TransformerConfig):
        if length // patch > config.max_len:
            raise SeqlabError(
                f"{length // patch} tokens (input_length {length} / patch_length {patch}) "
                f"exceed model.max_len ({config.max_len}); raise model.max_len or "
                "model.patch_length"
            )
        return TransformerForecaster(
            config,
            input_features=input_features,
            input_length=length,
            horizon=horizon,
            output_features=output_features,
            patch_length=config.patch_length,
            instance_norm=config.instance_norm,
            extra_inputs=data.extra_inputs,
        )
    steps = length // patch  # the encoder's recurrent steps, the chrono time scales' T_max
    if config.init == "chrono" and config.chrono_max_steps is None and steps < 3:
        raise SeqlabError(
            f"model.init chrono spreads the gates' time scales over the encoder's steps, and a "
            f"window takes {steps} (data.input_length {length} / model.patch_length {patch}), "
            f"fewer than 3; lengthen data.input_length to {3 * patch} or more, shorten "
            "model.patch_length, or set model.init=forget-bias-1"
        )
    return RecurrentForecaster(
        config,
        input_features=input_features,
        horizon=horizon,
        output_features=output_features,
        head=config.forecast_head,
        input_length=length,
        last_values_in_head=config.last_values_in_head,
        instance_norm=config.instance_norm,
        extra_inputs=data.extra_inputs,
        patch_length=config.patch_length,
        generator=init_generator(seed),
    )
