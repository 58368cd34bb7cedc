"""Read the masked voxels of one NSD betas session, streaming, never the whole 4-D file at once.

NSD ships single-trial betas as int16 percent signal change x 300, either as
NIfTI `(X, Y, Z, trials)` or as HDF5 dataset `betas` in `(trials, Z, Y, X)` order.
Both readers return `(n_trials, n_voxels)` float32 percent signal change, voxels
in C order of (i, j, k) within the mask (the order of `numpy.nonzero(mask)`).
Float files (e.g. betas of another study) are taken as percent signal change already.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

from voxelflow.errors import InputError

try:  # ISA-L inflates gzip about 1.7x faster than zlib; NSD ships ~42 GB of .nii.gz per subject
    from isal.isal_zlib import decompressobj
    from isal.isal_zlib import error as _InflateError
except ImportError:  # pragma: no cover - isal is a dependency, zlib the fallback
    from zlib import decompressobj
    from zlib import error as _InflateError

NSD_BETA_SCALE = 300.0  # NSD stores betas as int16 of percent signal change x 300
_TRIALS_PER_READ = 8  # NIfTI volumes decoded per read: bounds the transient memory
_BLOCK = 1 << 20  # compressed bytes read at once
_PIECE = 1 << 22  # most decompressed bytes produced at once


def read_masked_betas(path: str | Path, mask: np.ndarray) -> np.ndarray:
    """Betas of the `mask` voxels: (n_trials, n_voxels) float32 percent signal change.

    `mask` is an (X, Y, Z) bool volume on the same grid as the betas (a .npy file of a study table holds the
    mask's voxels already, (trials, n_voxels)). Raises
    InputError naming the file if it is missing, damaged, or on another grid.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"betas file {path} does not exist")
    if path.suffix == ".hdf5":
        return _read_hdf5(path, mask)
    if path.suffix == ".npy":
        return _read_npy(path, mask)
    return _read_nifti(path, mask)


def _read_npy(path: Path, mask: np.ndarray) -> np.ndarray:
    """A study table's .npy betas: (trials, voxels of the mask in C order), already masked."""
    try:
        betas = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read betas {path}: {err}") from None
    if betas.ndim != 2 or betas.shape[1] != int(mask.sum()):
        raise InputError(f"betas {path} have shape {betas.shape}, but the mask holds {int(mask.sum())} voxels "
                         f"(expected (trials, {int(mask.sum())}))")
    return _to_percent_signal_change(np.array(betas, dtype=np.float32), betas.dtype)


def _to_percent_signal_change(betas: np.ndarray, stored_dtype: np.dtype) -> np.ndarray:
    """Divide integer-stored betas by NSD's factor of 300, in place; float betas are PSC already."""
    if np.issubdtype(stored_dtype, np.integer):
        betas /= np.float32(NSD_BETA_SCALE)
    return betas


def _check_grid(path: Path, volume_shape: tuple, mask: np.ndarray) -> None:
    if tuple(volume_shape) != mask.shape:
        raise InputError(
            f"betas {path} are on a grid of {tuple(volume_shape)} voxels but the ROI mask has "
            f"{mask.shape}: they belong to different subjects or spaces"
        )


def _file_pieces(path: Path) -> Iterator[bytes]:
    """The bytes of `path` in pieces of at most _PIECE, decompressed if it is gzip (multi-member too)."""
    with open(path, "rb") as f:
        if not path.name.endswith(".gz"):
            while piece := f.read(_PIECE):
                yield piece
            return
        inflater = decompressobj(31)
        data = f.read(_BLOCK)
        while data:
            yield inflater.decompress(data, _PIECE)
            if inflater.eof:
                data = inflater.unused_data or f.read(_BLOCK)
                if data:
                    inflater = decompressobj(31)
            else:
                data = inflater.unconsumed_tail or f.read(_BLOCK)


def _read_nifti(path: Path, mask: np.ndarray) -> np.ndarray:
    try:
        image = nib.load(path)
        proxy = image.dataobj
        shape, dtype, offset = image.shape, np.dtype(proxy.dtype), int(proxy.offset)
        slope, inter = float(proxy.slope), float(proxy.inter)
    except Exception as err:  # nibabel raises many types for a damaged header
        raise InputError(f"cannot read betas {path}: {err}") from None
    if len(shape) != 4:
        raise InputError(f"betas {path} must be 4-D (X, Y, Z, trials), got shape {shape}")
    _check_grid(path, shape[:3], mask)
    n_trials, n_spatial = shape[3], int(np.prod(shape[:3]))
    # The data block is in Fortran order: volume t holds voxel (i, j, k) at i + X*j + X*Y*k.
    columns = np.ravel_multi_index(np.nonzero(mask), shape[:3], order="F")
    out = np.empty((n_trials, len(columns)), dtype=np.float32)
    volume_bytes = n_spatial * dtype.itemsize
    pending = bytearray()
    skip, trial = offset, 0
    try:
        for piece in _file_pieces(path):
            if skip:
                cut = min(skip, len(piece))
                piece, skip = piece[cut:], skip - cut
            pending += piece
            while trial < n_trials:
                n = min(_TRIALS_PER_READ, n_trials - trial)
                if len(pending) < n * volume_bytes:
                    break
                volumes = np.frombuffer(pending, dtype, count=n * n_spatial).reshape(n, n_spatial)
                out[trial:trial + n] = volumes[:, columns]
                del volumes  # release the view before the buffer shrinks
                del pending[: n * volume_bytes]
                trial += n
            if trial == n_trials:
                break
    except (OSError, EOFError, zlib.error, _InflateError) as err:
        raise InputError(f"cannot read betas {path}: {err}") from None
    if trial < n_trials:
        raise InputError(f"betas {path} is truncated: it ends inside trial {trial + 1} of {n_trials}")
    if slope not in (0.0, 1.0) or inter != 0.0:
        out = out * (slope if slope else 1.0) + inter
    return _to_percent_signal_change(out, dtype)


def _read_hdf5(path: Path, mask: np.ndarray) -> np.ndarray:
    try:
        with h5py.File(path, "r") as f:
            if "betas" not in f:
                raise InputError(f"betas file {path} has no 'betas' dataset")
            data = f["betas"]
            if data.ndim != 4:
                raise InputError(f"betas {path} must be 4-D (trials, Z, Y, X), got shape {data.shape}")
            _check_grid(path, data.shape[:0:-1], mask)
            # Column of each masked voxel in the output, laid out on the grid.
            column_of = np.full(mask.shape, -1)
            column_of[mask] = np.arange(mask.sum())
            out = np.empty((data.shape[0], int(mask.sum())), dtype=np.float32)
            for k in np.flatnonzero(mask.any(axis=(0, 1))):
                plane = mask[:, :, k]
                i0, i1 = np.flatnonzero(plane.any(1))[[0, -1]]
                j0, j1 = np.flatnonzero(plane.any(0))[[0, -1]]
                block = data[:, k, j0:j1 + 1, i0:i1 + 1]  # (trials, J, I)
                inside = plane[i0:i1 + 1, j0:j1 + 1].T
                out[:, column_of[i0:i1 + 1, j0:j1 + 1, k].T[inside]] = block[:, inside]
            return _to_percent_signal_change(out, data.dtype)
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"cannot read betas {path}: {err}") from None
