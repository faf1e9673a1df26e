"""seqlab.data: named data sets and where they come from, parsers, tokenizers, scalers, batching."""
