"""seqlab.utils: small helpers every layer may use.

- ``seqlab.utils.io``: atomic file writes (JSON, text, bytes, safetensors) and JSON-lines logs.
- ``seqlab.utils.config``: frozen dataclass configs from dicts, files and ``--set`` overrides.
- ``seqlab.utils.seeding``: seeding and capturing/restoring every random number generator.

Nothing is re-exported here so that ``import seqlab.utils`` stays free of torch; import the
module you need.
"""
