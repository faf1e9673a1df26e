"""``python -m seqlab`` is the same as the ``seqlab`` command (so ``torchrun -m seqlab`` works)."""

import sys

from seqlab.cli import main

sys.exit(main())
