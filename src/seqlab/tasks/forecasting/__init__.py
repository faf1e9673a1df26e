"""The forecasting workload: ETTh1 or any CSV time series, recurrent and Transformer forecasters,
always reported beside the baselines.

References: Zhou et al., 2021, "Informer" (the ETTh1 data set, its 12/4/4-month split, the S, M
and MS feature modes, and MSE and MAE reported on the z-scored data); Wu et al., 2021,
"Autoformer" (the 0.7/0.1/0.2 split of other series); Zeng et al., 2023, "Are Transformers
Effective for Time Series Forecasting?" (repeat and linear baselines beside every network);
Hyndman and Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed., sec. 5.2 (seasonal
naive).

Modules: ``config`` (the data settings), ``options`` (presets and flags, torch-free), ``data``
(the series, its columns, splits, scaler and windows), ``metrics`` (error sums per horizon step
and per variable), ``baselines`` (repeat, seasonal and linear forecasts for the report),
``report`` (what ``seqlab eval`` prints), ``model`` (the forecaster a config describes), ``task``
(the Task that wires them), ``predictor`` (``seqlab.load(DIR).forecast``), ``monitor``
(``seqlab monitor``: drift of recent data) and ``retrain`` (``seqlab retrain``).
"""
