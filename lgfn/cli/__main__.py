"""``python -m lgfn.cli ...``: the ``lgfn`` command, as before it became a package."""

import sys

from lgfn.cli import main

if __name__ == "__main__":
    sys.exit(main())
