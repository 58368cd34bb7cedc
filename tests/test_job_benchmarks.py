import pytest

from voxelflow.errors import InputError
from voxelflow.job_benchmarks import benchmark_table

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_jobs_are_listed_slowest_first_with_peak_memory(tmp_path):
    (tmp_path / "subj01/encoders").mkdir(parents=True)
    (tmp_path / "subj01/encoders/ridge-gabor.tsv").write_text(HEADER + "12.5\t0:00:12\t300.2\t1\t1\t1\t0\t0\t150\t20\n")
    (tmp_path / "features").mkdir()
    (tmp_path / "features/gabor-subj01.tsv").write_text(HEADER + "40.0\t0:00:40\t800.5\t1\t1\t1\t0\t0\t99\t39\n")
    table = benchmark_table(tmp_path)
    assert table["job"].tolist() == ["features/gabor-subj01", "subj01/encoders/ridge-gabor"]
    assert table["seconds"].tolist() == [40.0, 12.5] and table["max_rss_mb"].tolist() == [800.5, 300.2]


def test_no_benchmarks_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no benchmark files under"):
        benchmark_table(tmp_path)
