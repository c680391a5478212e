"""`python -m vgviz …`: the same as the `vgviz` command (watch(window=True) starts the window so)."""
import sys

from .cli import main

sys.exit(main())
