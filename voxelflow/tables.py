"""Result tables (metrics, scores, curves) as tab-separated text: written atomically, a missing value written as
"unavailable" and read back as NaN."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from voxelflow.atomic_output import atomic_output

MISSING = "unavailable"


def write_table(table: pd.DataFrame, path: str | Path, float_format: str | None = None) -> None:
    """Write `table` to `path` as TSV (a header row, no index; floats with `float_format`, e.g. "%.4f", else in
    full), under a temporary name renamed into place, so a failed job leaves no partial table."""
    with atomic_output(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep=MISSING, float_format=float_format)


def read_table(path: str | Path) -> pd.DataFrame:
    """A table written by `write_table` ("unavailable" -> NaN)."""
    return pd.read_csv(path, sep="\t", na_values=MISSING)
