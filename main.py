"""Launch the vgviz desktop app: `python main.py` (same as `vgviz gui`)."""
import sys

from vgviz.cli import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
