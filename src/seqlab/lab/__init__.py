"""seqlab.lab: experiments, figures and reports (``compare``, ``claims``, the blocks demo)."""
