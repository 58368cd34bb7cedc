"""The workflow on a real SLURM cluster, through `profiles/slurm` and the SLURM executor plugin, as a cluster user
runs it. Needs a running cluster with accounting: `make test-slurm` starts a single-node one (`.ci/slurm-cluster`)
and installs the plugin (`.[slurm]`); CI runs it. Marked `slurm`, so `make test` leaves it out.
"""

import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slurm

SACCT_FIELDS = "JobID,Comment%300,State,ReqMem,Timelimit,ReqCPUS,ReqTRES%200"


def _config(workdir: Path) -> dict:
    """The shipped config cut to one subject, the Gabor backbone and the ridge encoder."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(subjects=["subj01"], backbones={"gabor": {"type": "gabor"}},
                  mininsd={**config["mininsd"], "n_subjects": 1, "n_shared": 20, "n_unique": 40, "n_sessions": 4,
                           "fewer_sessions": {}, "grid": [18, 22, 14]},
                  encoders={"ridge": config["encoders"]["ridge"]}, decoders={}, rois=["V1", "floc-faces"],
                  device="auto")  # torch rules ask for the node's (fake) GPU; torch falls back to the CPU
    del config["synthesis"], config["rsa"], config["captions"]
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return config


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--workflow-profile", str(REPO / "profiles/slurm"), "--directory", str(workdir), *args,
                           "--configfile", str(workdir / "config.yaml")],  # last: it takes several values
                          capture_output=True, text=True, timeout=900)


def _planned_resources(workdir: Path, target: str) -> dict[str, dict[str, str]]:
    """rule -> the resources a dry run plans for its (single) job, as Snakemake prints them."""
    proc = _snakemake(workdir, "-n", target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned, rule = {}, None
    for line in (proc.stdout + proc.stderr).splitlines():
        if match := re.match(r"(?:local)?rule (\w+):", line.strip()):
            rule = match.group(1)
        elif line.strip().startswith("resources:") and rule:
            items = line.split(":", 1)[1].strip().split(", ")
            planned.setdefault(rule, {}).update(item.split("=", 1) for item in items)
        elif line.strip().startswith("threads:") and rule:
            planned.setdefault(rule, {})["threads"] = line.split(":", 1)[1].strip()
    return planned


def _sacct(since: str, rules: set[str]) -> dict[str, dict[str, str]]:
    """rule -> sacct's record of its job since `since` (the plugin writes `rule_<name>_wildcards_...` as the
    comment), waiting up to 30 s for slurmdbd to hold a finished record of each of `rules`."""
    for _ in range(60):
        records = _sacct_records(since)
        if rules <= set(records) and all(r["State"] not in ("PENDING", "RUNNING") for r in records.values()):
            break
        time.sleep(0.5)
    return records


def _sacct_records(since: str) -> dict[str, dict[str, str]]:
    proc = subprocess.run(["sacct", "-X", "-P", "-n", "-S", since, "-o", SACCT_FIELDS],
                          capture_output=True, text=True, check=True)
    records = {}
    for line in proc.stdout.splitlines():
        row = dict(zip(SACCT_FIELDS.replace("%300", "").replace("%200", "").split(","), line.split("|")))
        if match := re.match(r"rule_(\w+?)(_wildcards_.*)?$", row["Comment"]):
            records[match.group(1)] = row
    return records


def _minutes(timelimit: str) -> int:
    """sacct's Timelimit ([D-]HH:MM:SS) in minutes."""
    days, _, clock = timelimit.rpartition("-")
    hours, minutes, _ = (int(part) for part in clock.split(":"))
    return int(days or 0) * 1440 + hours * 60 + minutes


def test_a_small_target_runs_through_sbatch_with_its_resources_and_a_failing_job_fails_the_run(tmp_path):
    proc = subprocess.run(["sinfo", "-h", "-o", "%P %a"], capture_output=True, text=True)
    assert proc.returncode == 0, f"no SLURM cluster answers (start one: .ci/slurm-cluster start): {proc.stderr}"
    _config(tmp_path)
    target = "results/subj01/figures/ridge-gabor/accuracy_map.png"
    planned = _planned_resources(tmp_path, target)
    assert {"make_mininsd", "preprocess_subject", "extract_features", "fit_ridge", "encoding_maps"} <= set(planned)

    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 1))
    proc = _snakemake(tmp_path, target, "--slurm-init-seconds-before-status-checks", "1")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert (tmp_path / target).stat().st_size > 0
    with h5py.File(tmp_path / "results/subj01/encoders/ridge/gabor/scores.h5") as f:
        assert f["r"].shape[0] > 0

    # compute rules went through sbatch, plotting rules ran on the submitting node (localrules)
    compute = {"make_mininsd", "preprocess_subject", "extract_features", "fit_ridge"}
    jobs = _sacct(since, compute)
    assert set(jobs) == compute, jobs
    for rule, record in jobs.items():
        assert record["State"] == "COMPLETED", (rule, record)
        assert record["ReqMem"] == f"{planned[rule]['mem_mb']}M", (rule, record, planned[rule])
        assert _minutes(record["Timelimit"]) == int(planned[rule]["runtime"]), (rule, record, planned[rule])
        assert record["ReqCPUS"] == planned[rule].get("threads", "1"), (rule, record, planned[rule])
        assert ("gres/gpu=1" in record["ReqTRES"]) == ("gpu" in planned[rule]), (rule, record, planned[rule])
    assert "gpu" in planned["fit_ridge"] and "gpu" not in planned["preprocess_subject"]

    # a job that fails on the cluster fails the run, with its one-line error on screen
    features = tmp_path / "results/features/gabor/subj01.h5"
    features.write_bytes(b"not an HDF5 file")
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 1))
    proc = _snakemake(tmp_path, target, "--slurm-init-seconds-before-status-checks", "1")
    assert proc.returncode != 0
    assert "results/features/gabor/subj01.h5" in proc.stdout + proc.stderr
    assert _sacct(since, {"fit_ridge"})["fit_ridge"]["State"] == "FAILED"
    assert not (tmp_path / "results/subj01/encoders/ridge/gabor/scores.h5").exists()
