"""``python -m cli``: the same as the ``onemap`` command."""

import sys

from cli import main

sys.exit(main())
