"""Snakemake glue: write the built-in mini-NSD (rule make_mininsd)."""

from pathlib import Path

from voxelflow.mininsd import MiniNSDConfig, write_mininsd
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    config = MiniNSDConfig(**dict(smk.params.mininsd))
    config.grid = tuple(config.grid)
    root = Path(smk.output.truth).parents[1]
    write_mininsd(root, config)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
