"""One module per ``seqlab`` sub-command; each has ``register(subparsers)`` and a ``run(args)``."""
