"""``python -m memornn`` is the same as the ``memornn`` command."""

import sys

from memornn.cli import main

if __name__ == "__main__":
    sys.exit(main())
