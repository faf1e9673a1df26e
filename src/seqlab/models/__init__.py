"""seqlab.models: whole networks wired from seqlab.nn blocks (no tensor math of their own)."""
