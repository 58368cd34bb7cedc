"""Snakemake glue: write the built-in mini-NSD (rule make_mininsd)."""

from pathlib import Path

from voxelflow.mininsd import MiniNSDConfig, write_mininsd
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    settings = dict(smk.params.mininsd)
    subjects = [f"subj{number:02d}" for number in range(1, settings.pop("n_subjects") + 1)]
    config = MiniNSDConfig(subjects=subjects, **settings)
    config.grid = tuple(config.grid)
    root = Path(smk.output.truth).parents[1]
    write_mininsd(root, config)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
