"""seqlab.infer: what every predictor shares (the Predictor base, decoding and sampling, streaming
state)."""

from seqlab.infer.predictor import Predictor

__all__ = ["Predictor"]
