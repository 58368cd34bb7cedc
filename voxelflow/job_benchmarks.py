"""The per-job time and memory that Snakemake's `benchmark:` files record (logs/benchmarks/), as one table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from voxelflow.errors import InputError


def benchmark_table(folder: str | Path) -> pd.DataFrame:
    """One row per job: job (the benchmark file's path under `folder`, without .tsv), seconds (wall clock),
    max_rss_mb (peak resident memory), mean_load (CPU percent), slowest first."""
    folder = Path(folder)
    files = sorted(folder.rglob("*.tsv"))
    if not files:
        raise InputError(f"no benchmark files under {folder}; run snakemake first")
    rows = []
    for path in files:
        table = pd.read_csv(path, sep="\t")
        rows.append({"job": str(path.relative_to(folder).with_suffix("")), "seconds": float(table["s"].mean()),
                     "max_rss_mb": float(table["max_rss"].max()), "mean_load": float(table["mean_load"].mean())})
    return pd.DataFrame(rows).sort_values("seconds", ascending=False, ignore_index=True)
