"""`python -m minifw`: the same as the `minifw` command."""

import sys

from minifw.cli import main

sys.exit(main())
