"""seqlab: build, train, compare and serve recurrent networks and Transformers."""

__version__ = "0.1.0"
