"""``python -m memornn.hw.formal``: run the formal checks (see :mod:`.checks`)."""

import sys

from .checks import main

sys.exit(main())
