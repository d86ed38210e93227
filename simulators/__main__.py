"""``python -m simulators`` is ``hosiery-sim``."""

import sys

from simulators.cli import main

sys.exit(main())
