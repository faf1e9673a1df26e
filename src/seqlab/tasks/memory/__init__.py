"""The memory workload: recall, adding and copy problems at a chosen distance (seqlab.data.memory).

Losses (sums, with their counts): cross-entropy over the answer for recall and over each string
position for copy (with optional label smoothing); squared error for adding. Metrics: accuracy
(per symbol for copy, plus whole-string accuracy) or MSE, always with the chance level beside it.
Validation and test sets are fixed streams derived from the run's seed, disjoint from training.

Modules: ``config`` (the data settings), ``options`` (presets and flags, torch-free), ``task``
(the Task), ``predictor`` (answers from a model directory).
"""
