"""What every example shares: its command line (--steps, --out, --window, --seed)."""
from __future__ import annotations

import argparse
from pathlib import Path


def parse_args(description: str, steps: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=steps, help=f"training steps per run (default {steps})")
    parser.add_argument("--out", type=Path, default=Path("runs"),
                        help="folder for the run files (default ./runs); open one with `vgviz open FILE`")
    parser.add_argument("--window", action="store_true", help="follow each run live in the vgviz window")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args
