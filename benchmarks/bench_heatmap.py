"""The layer × step heat map's downsampling (vgviz.core.runfile.per_layer.downsample_log) on a
synthetic 500 layers × 10⁶ steps series (2 GB of float32, like a run read in full): time to
2,000 columns of per-bucket max of log10 values, and of mean. Target: ≤ 10 s on one core
(it runs in a helper, once per file change; the window redraws only the 500 × 2,000 image).

    .venv/bin/python benchmarks/bench_heatmap.py [--layers 500] [--steps 1000000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import _common  # noqa: F401  (puts the repository on sys.path)
from vgviz.core.runfile.per_layer import MAX_COLUMNS, downsample_log

BUDGET_S = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=500)
    parser.add_argument("--steps", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    values = np.empty((args.steps, args.layers), dtype=np.float32)
    for r0 in range(0, args.steps, 100_000):   # chunks: no float64 temporary of the whole
        r1 = min(r0 + 100_000, args.steps)
        values[r0:r1] = 10.0 ** rng.uniform(-12, 0, size=(r1 - r0, args.layers)).astype(np.float32)
    steps = np.arange(args.steps, dtype=np.int64)
    print(f"{args.layers} layers × {args.steps:,} steps ({values.nbytes / 2**30:.1f} GiB float32) → "
          f"{MAX_COLUMNS} columns")
    for reduce in ("max", "mean"):
        t0 = time.perf_counter()
        heat = downsample_log(values, steps, reduce=reduce)
        seconds = time.perf_counter() - t0
        verdict = "PASS" if seconds <= BUDGET_S else "MISS"
        print(f"{reduce:>4}: {seconds:6.2f} s  image {heat.image.shape}  {verdict} (≤ {BUDGET_S:.0f} s)")


if __name__ == "__main__":
    main()
