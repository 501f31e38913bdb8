"""`python -m minifw`: the same as the `minifw` command."""

import sys

from minifw.app.cli import main

sys.exit(main())
