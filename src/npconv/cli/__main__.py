"""``python -m npconv.cli``: the ``npconv`` command."""

import sys

from . import main

sys.exit(main())
