"""seqlab.export: trained models for other runtimes (ONNX) and for faster CPU inference (int8).

- ``onnx_models``: what an exported graph takes and returns, per task; ``onnx_export``: tracing
  on the fused path and writing the file with its metadata (``export_model_onnx``,
  ``export_encoder_onnx``).
- ``int8_matrix``: int8 weights quantised per output row, and the int8 Linear; ``int8_recurrent``:
  int8 LSTM and GRU on torch's quantised kernels; ``int8_model``: which layers of a model
  become int8; ``int8_dir``: the int8 model directory (``export_int8``).

``seqlab export`` (seqlab.commands.export) is the command line over these. Like the predictors,
this package sits above the tasks (DESIGN.md, "Where the coming work goes"); importing it loads
torch, and ONNX only when an ONNX file is written (the ``seqlab[export]`` extra).
"""
