"""`python -m api.cli`: the same as the `chargeca` entry point."""

import sys

from api.cli import main

sys.exit(main())
