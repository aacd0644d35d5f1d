"""``python -m openclap ...``: the same as the ``openclap`` command."""

import sys

from openclap.cli import entry

sys.exit(entry())
