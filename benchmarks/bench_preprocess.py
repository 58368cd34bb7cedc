"""Preprocessing speed and memory per session at full NSD size, against plain reads of the same file.

Writes NSD-shaped sessions (81 x 104 x 83 voxels x 750 trials, int16, zero outside
a brain mask) to a temporary folder in both of NSD's formats, then for each format:

  time ratio   = voxelflow's per-session step (read masked voxels, z-score, add to
                 the repeat sums; `voxelflow.preprocess.add_session`) divided by the
                 time to merely read the same file (nibabel `dataobj` / h5py `[()]`).
                 Goal: <= 1.5.
  memory ratio = peak memory allocated during that step (tracemalloc, which sees
                 numpy's buffers) divided by one session's masked float32 betas.
                 Goal: < 2. The repeat sums (images x voxels, allocated once per
                 subject, not per session) are allocated before measuring and
                 reported on their own.

Usage: python benchmarks/bench_preprocess.py [--voxels 15724] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

from voxelflow.atlases.roi_masks import RoiSet
from voxelflow.noise_ceiling import RepeatSums
from voxelflow.nsd_study import Subject
from voxelflow.preprocess import add_session

SHAPE = (81, 104, 83)  # subj01's 1.8 mm grid
TRIALS = 750


def make_session(folder: Path, n_voxels: int, rng: np.random.Generator) -> tuple[Path, Path, np.ndarray]:
    """Write one session as .nii.gz and .hdf5; return both paths and the (X, Y, Z) voxel mask."""
    u, v, w = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
    brain = u**2 + v**2 + w**2 < 0.9
    # nsdgeneral-like: the most posterior brain voxels, n_voxels of them
    order = np.argsort(v[brain], kind="stable")
    mask = np.zeros(SHAPE, dtype=bool)
    mask[tuple(np.argwhere(brain)[order[:n_voxels]].T)] = True
    volume = np.zeros((*SHAPE, TRIALS), dtype=np.int16)
    volume[brain] = rng.normal(0, 600, (int(brain.sum()), TRIALS)).astype(np.int16)
    nifti, hdf5 = folder / "betas_session01.nii.gz", folder / "betas_session01.hdf5"
    nib.save(nib.Nifti1Image(volume, np.diag([1.8, 1.8, 1.8, 1])), nifti)
    with h5py.File(hdf5, "w") as f:  # NSD's layout: (trials, Z, Y, X), all trials of a voxel in one chunk
        f.create_dataset("betas", data=volume.transpose(3, 2, 1, 0), chunks=(TRIALS, 1, 1, 1))
    return nifti, hdf5, mask


def plain_read(path: Path) -> float:
    start = time.perf_counter()
    if path.suffix == ".hdf5":
        with h5py.File(path) as f:
            f["betas"][()]
    else:
        np.asarray(nib.load(path).dataobj)
    return time.perf_counter() - start


def voxelflow_session(path: Path, mask: np.ndarray, rng: np.random.Generator) -> tuple[float, int, int]:
    """Seconds, peak bytes of the session step, and bytes of the repeat sums."""
    image_ids = rng.permutation(10000)[:TRIALS] % 400  # 400 images, repeats within the session
    subject = Subject("subj01", [path], [image_ids], np.arange(100), mask, np.eye(4), RoiSet(), None)
    sums = RepeatSums(np.unique(image_ids), int(mask.sum()))
    tracemalloc.start()
    start = time.perf_counter()
    add_session(subject, 0, sums)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak, sums.sums.nbytes + sums.sums_sq.nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voxels", type=int, default=15724, help="masked voxels (subj01 nsdgeneral: 15724)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats; the median is reported")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the ~2 GB of session files")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        start = time.perf_counter()
        nifti, hdf5, mask = make_session(Path(tmp), args.voxels, rng)
        print(f"wrote one {SHAPE} x {TRIALS} int16 session in both formats in {time.perf_counter() - start:.0f} s; "
              f"{mask.sum()} masked voxels")
        masked_bytes = TRIALS * int(mask.sum()) * 4
        print(f"one session's masked float32 betas: {masked_bytes / 2**20:.1f} MiB")
        print(f"{'format':8} {'plain read s':>13} {'voxelflow s':>12} {'time ratio':>11} {'peak MiB':>9} "
              f"{'memory ratio':>13}")
        for path in (nifti, hdf5):
            base = np.median([plain_read(path) for _ in range(args.repeats)])
            runs = [voxelflow_session(path, mask, rng) for _ in range(args.repeats)]
            ours, peak, sums_bytes = np.median([r[0] for r in runs]), max(r[1] for r in runs), runs[0][2]
            name = "hdf5" if path.suffix == ".hdf5" else "nifti"
            print(f"{name:8} {base:13.2f} {ours:12.2f} {ours / base:11.2f} {peak / 2**20:9.1f} "
                  f"{peak / masked_bytes:13.2f}")
        print(f"(repeat sums for 400 images, allocated once per subject: {sums_bytes / 2**20:.1f} MiB)")
        print("goals: time ratio <= 1.5, memory ratio < 2")


if __name__ == "__main__":
    main()
