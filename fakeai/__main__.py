"""``python -m fakeai`` is the ``fakeai`` command."""

import sys

from fakeai.cli import main

sys.exit(main())
