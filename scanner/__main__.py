"""``python -m scanner`` is the same as the ``mailprobe`` command."""

import sys

from scanner.cli import main

sys.exit(main())
