"""``python -m openclap ...``: the same as the ``openclap`` command."""

import sys

from openclap.cli import main

sys.exit(main())
