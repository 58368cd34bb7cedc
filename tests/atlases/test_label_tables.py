import pytest

from voxelflow.atlases.label_tables import read_label_table, write_label_table
from voxelflow.errors import InputError


def test_round_trip_and_freesurfer_colour_columns(tmp_path):
    path = tmp_path / "floc-faces.mgz.ctab"
    write_label_table(path, ["OFA", "FFA-1"])
    assert read_label_table(path) == {1: "OFA", 2: "FFA-1"}
    path.write_text("0 Unknown 0 0 0 0\n1 V1v 220 20 10 0\n\n7 hV4 10 200 10 0\n")
    assert read_label_table(path) == {1: "V1v", 7: "hV4"}


def test_malformed_row_names_file_and_line(tmp_path):
    path = tmp_path / "x.mgz.ctab"
    path.write_text("0 Unknown\none V1v\n")
    with pytest.raises(InputError, match=r"x\.mgz\.ctab, line 2"):
        read_label_table(path)
