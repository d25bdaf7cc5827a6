"""``python -m npconv ...`` runs the ``npconv`` command."""

import sys

from npconv.cli import main

sys.exit(main())
