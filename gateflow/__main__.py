"""``python -m gateflow``: the gateflow command."""

import sys

from .cli import main

sys.exit(main())
