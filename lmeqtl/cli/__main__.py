"""``python -m lmeqtl.cli`` is the ``lmeqtl`` command."""

import sys

from lmeqtl.cli import main

sys.exit(main())
