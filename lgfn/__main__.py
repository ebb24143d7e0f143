"""``python -m lgfn ...``: the same command line as the ``lgfn`` console script (see :mod:`lgfn.cli`)."""

import sys

from lgfn.cli import main

if __name__ == "__main__":
    sys.exit(main())
