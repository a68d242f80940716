"""Benchmark: LightGBM walk-forward, 10 folds, on 100,000 events x 40 features (issue 6 target: at
most 60 s in process on this machine), in process and through Dask with 2 local workers.

The data are synthetic and seeded: Gaussian features, a binary label from a linear signal in 5 of
them plus noise, label spans of 5 rows (so purging is exercised). Expanding walk-forward, 10 test
blocks of n // 11 rows, purged, embargo 5. LightGBM defaults of earnest.models.estimators (200
trees, 31 leaves, deterministic) with ``--threads`` threads per model. The Dask run uses a
LocalCluster of 2 worker processes with 1 thread each (cluster start-up timed separately); with
``--threads 1`` both runs must give identical predictions, which is checked and printed.

    .venv/bin/python benchmarks/train.py [--rows 100000] [--features 40] [--folds 10] [--repeat 1]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, print_table, timed

from earnest.models import WalkForward, make_estimator, walk_forward_predict
from earnest.parallel import Executor, InProcessExecutor, local_cluster


def _data(n: int, k: int, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k))
    signal = x[:, :5] @ np.array([0.6, -0.4, 0.3, 0.2, -0.1])
    y = (signal + rng.normal(size=n) > 0).astype(np.int64)
    t0 = np.arange(n, dtype=np.int64)
    return x, y, t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="threads per LightGBM model (both runs)")
    args = ap.parse_args()
    x, y, t0 = _data(args.rows, args.features, seed=42)
    splitter = WalkForward(args.folds, t0=t0, t1=t0 + 5, embargo=5)
    factory = functools.partial(make_estimator, "lightgbm", "classification", seed=0, n_jobs=args.threads)
    results = {}

    def run(name: str, executor: Executor) -> None:
        results[name] = walk_forward_predict(
            x,
            y,
            splitter=splitter,
            estimator_factory=factory,
            executor=executor,
        )

    inproc = timed(lambda: run("in-process", InProcessExecutor()), repeat=args.repeat)
    t = time.perf_counter()
    with local_cluster(2, threads_per_worker=1) as executor:
        start_s = time.perf_counter() - t
        dask = timed(lambda: run("dask", executor), repeat=args.repeat)
    equal = results["in-process"].equals(results["dask"])
    rows = [
        [f"in-process ({args.threads} thread/model)", median(inproc), min(inproc), "-"],
        [f"dask LocalCluster 2x1 ({args.threads} thread/model)", median(dask), min(dask), start_s],
    ]
    print(
        f"LightGBM walk-forward: {args.rows:,} events x {args.features} features, {args.folds} folds,"
        f" {results['dask'].height:,} out-of-sample rows, repeat {args.repeat}"
    )
    print_table(rows, ["executor", "median_s", "min_s", "cluster_start_s"])
    print(f"predictions identical: {equal}")


if __name__ == "__main__":
    main()
