"""``python -m infrastructure.cli``: the ``mailhost`` command without its script."""

import sys

from infrastructure.cli import main

sys.exit(main())
