"""NSD/FreeSurfer ROI label tables (`<family>.mgz.ctab`): label value -> ROI name."""

from __future__ import annotations

from pathlib import Path

from voxelflow.errors import InputError


def read_label_table(path: str | Path) -> dict[int, str]:
    """Read a label table: one `index name [R G B A]` row per label; 0 ("Unknown") is dropped."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"label table {path} does not exist")
    labels = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            value = int(fields[0])
            name = fields[1]
        except (ValueError, IndexError):
            raise InputError(f"{path}, line {number}: expected 'index name', got {line!r}") from None
        if value > 0:
            labels[value] = name
    return labels


def write_label_table(path: str | Path, names: list[str]) -> None:
    """Write a label table with "Unknown" as 0 and `names` as labels 1..n."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rows = ["0 Unknown"] + [f"{k} {name}" for k, name in enumerate(names, start=1)]
    Path(path).write_text("\n".join(rows) + "\n")
