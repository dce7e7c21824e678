"""`python -m posenet_cli` runs the `posenet` command."""

import sys

from .cli import main

sys.exit(main())
