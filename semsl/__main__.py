"""``python -m semsl``: the ``semsl`` command line (see :mod:`semsl.cli`)."""

from __future__ import annotations

import sys

from semsl.cli import main

if __name__ == "__main__":
    sys.exit(main())
