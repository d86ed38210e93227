"""``python -m admin`` is ``hosiery-admin``."""

import sys

from admin.cli import main

sys.exit(main())
