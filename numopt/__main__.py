"""``python -m numopt``: the same as the ``numopt`` console command."""

import sys

from ._cli import main

sys.exit(main())
