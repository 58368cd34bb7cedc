"""A workflow script's job is held to its rule's threads (Snakemake limits only `shell:` jobs itself)."""

import os
import subprocess
import sys

import pytest

CHILD = """
import torch, numpy
from threadpoolctl import threadpool_info
from voxelflow.script_runner import run_reporting_errors
def task():
    print(torch.get_num_threads(), max(pool["num_threads"] for pool in threadpool_info()))
run_reporting_errors(task, threads=1)
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: one thread is what every pool has anyway")
def test_a_job_uses_its_threads_not_every_core():
    env = {key: value for key, value in os.environ.items() if not key.endswith("_NUM_THREADS")}
    before = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                            capture_output=True, text=True, check=True).stdout.split()
    assert int(before[0]) > 1  # torch would use every core
    after = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    assert after.stdout.split() == ["1", "1"], after.stderr
