"""The language-model task: Tiny Shakespeare or any UTF-8 text, a GPT-style decoder-only
Transformer or a recurrent language model trained with truncated back-propagation through time,
and sampled generation (seqlab.infer.sampling)."""
