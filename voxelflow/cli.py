"""`voxelflow` command line: the stages without Snakemake, for one-off use and scripting."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxelflow.script_runner import run_reporting_errors


def _mininsd(args: argparse.Namespace) -> None:
    from voxelflow.mininsd import MiniNSDConfig, write_mininsd

    config = MiniNSDConfig(n_subjects=args.subjects, seed=args.seed, betas_format=args.betas_format)
    write_mininsd(args.out, config)


def _preprocess(args: argparse.Namespace) -> None:
    from voxelflow.config_check import dataclass_settings
    from voxelflow.preprocess import PreprocessOptions, preprocess_study_subject
    from voxelflow.responses import write_responses

    # the flags are PreprocessOptions' fields, as the workflow's preprocess block is
    settings = {**vars(args), "sessions": args.sessions if args.sessions == "all" else int(args.sessions)}
    write_responses(args.out, preprocess_study_subject(args.data_root, args.subject,
                                                       dataclass_settings(PreprocessOptions, settings)))


def _export_table(args: argparse.Namespace) -> None:
    from voxelflow.study_table import export_table

    print(export_table(args.study, args.out, args.subjects, args.space))


def _export_algonauts(args: argparse.Namespace) -> None:
    from voxelflow.mininsd.algonauts_export import export_algonauts

    print(export_algonauts(args.study, args.out, args.subjects, release_test=not args.withhold_test))


def _benchmarks(args: argparse.Namespace) -> None:
    from voxelflow.job_benchmarks import benchmark_table

    table = benchmark_table(args.folder)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    print(f"total: {table['seconds'].sum():.0f} s of job time over {len(table)} jobs")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `voxelflow` command."""
    parser = argparse.ArgumentParser(prog="voxelflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    mini = commands.add_parser("mininsd", help="write the built-in mini-NSD")
    mini.add_argument("out", type=Path, help="folder to hold nsddata/, nsddata_betas/, ...")
    mini.add_argument("--subjects", type=int, default=4)
    mini.add_argument("--seed", type=int, default=0)
    mini.add_argument("--betas-format", choices=["nifti", "hdf5", "both"], default="nifti")
    mini.set_defaults(run=_mininsd)

    pre = commands.add_parser("preprocess", help="one subject's betas -> responses.h5")
    pre.add_argument("--data-root", type=Path, required=True)
    pre.add_argument("--subject", required=True)
    pre.add_argument("--out", type=Path, required=True)
    pre.add_argument("--space", default="func1pt8mm")
    pre.add_argument("--betas-version", default="betas_fithrf_GLMdenoise_RR")
    pre.add_argument("--betas-format", choices=["auto", "nifti", "hdf5"], default="auto")
    pre.add_argument("--mask-roi", default="nsdgeneral")
    pre.add_argument("--zscore-stats", choices=["all", "train"], default="all")
    pre.add_argument("--ncsnr", choices=["auto", "study", "estimated"], default="auto")
    pre.add_argument("--sessions", default="all", help="all, or the first N sessions")
    pre.add_argument("--test-split", default="shared", help="shared, shared-common, or a file of 0-based image ids")
    pre.add_argument("--common-subjects", nargs="*", default=[], help="subjects of shared-common")
    pre.add_argument("--keep-trials", action="store_true", help="keep the training images' single trials")
    pre.set_defaults(run=_preprocess)

    table = commands.add_parser("export-table", help="describe an NSD-layout study (the mini-NSD) by a study table")
    table.add_argument("study", type=Path, help="the NSD-layout study's root")
    table.add_argument("out", type=Path, help="the study table to write (YAML; trials tables beside it)")
    table.add_argument("--subjects", nargs="+", default=["subj01"])
    table.add_argument("--space", choices=["volume", "fsaverage"], default="volume",
                       help="the study's volume or its fsaverage surface (a surface mini-NSD's)")
    table.set_defaults(run=_export_table)

    release = commands.add_parser("export-algonauts", help="a surface mini-NSD in the Algonauts 2023 release's layout")
    release.add_argument("study", type=Path, help="a mini-NSD written with its fsaverage layout (mininsd.surface)")
    release.add_argument("out", type=Path, help="the release folder to write (subjXX/ inside)")
    release.add_argument("--subjects", nargs="+", default=["subj01"])
    release.add_argument("--withhold-test", action="store_true", help="no test fMRI or noise ceiling, as during "
                                                                      "the challenge")
    release.set_defaults(run=_export_algonauts)

    bench = commands.add_parser("benchmarks", help="per-job time and memory of a finished run, slowest first")
    bench.add_argument("folder", type=Path, nargs="?", default=Path("logs/benchmarks"))
    bench.set_defaults(run=_benchmarks)

    args = parser.parse_args(argv)
    run_reporting_errors(lambda: args.run(args))


if __name__ == "__main__":
    main()
