"""`python -m pushworker.emulator`: the emulator's command line."""

import sys

from .cli import main

sys.exit(main())
