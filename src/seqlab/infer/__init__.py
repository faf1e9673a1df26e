"""seqlab.infer: what every predictor shares (the Predictor base, decoding, streaming state)."""

from seqlab.infer.predictor import Predictor

__all__ = ["Predictor"]
