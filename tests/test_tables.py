"""Result tables: tab-separated, missing values as "unavailable", written atomically."""

import numpy as np
import pandas as pd
import pytest

from voxelflow.tables import read_table, write_table


def test_a_table_round_trips_with_its_missing_values(tmp_path):
    path = tmp_path / "metrics.tsv"
    write_table(pd.DataFrame({"subject": ["subj01", "mean"], "SSIM": [0.123456, np.nan]}), path, float_format="%.4f")
    assert path.read_text() == "subject\tSSIM\nsubj01\t0.1235\nmean\tunavailable\n"
    table = read_table(path)
    assert table["SSIM"].iloc[0] == 0.1235 and np.isnan(table["SSIM"].iloc[1])


def test_a_failed_write_leaves_the_old_table(tmp_path):
    path = tmp_path / "scores.tsv"
    write_table(pd.DataFrame({"a": [1]}), path)

    class Broken(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            super().to_csv(*args, **kwargs)
            raise OSError("disk trouble")

    with pytest.raises(OSError):
        write_table(Broken({"a": [2, 3]}), path)
    assert path.read_text() == "a\n1\n" and [p.name for p in tmp_path.iterdir()] == ["scores.tsv"]
