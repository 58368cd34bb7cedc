import nibabel as nib
import numpy as np

from voxelflow.atlases.resample import resample_atlas
from voxelflow.nsd_layout import NSDLayout


def test_nearest_neighbour_resampling_keeps_labels_and_round_trips(mini_root):
    roi = nib.load(NSDLayout(mini_root).roi("subj01", "floc-faces"))
    fine_affine = roi.affine.copy()
    fine_affine[:3, :3] /= 2
    fine_affine[:3, 3] -= 0.45  # voxel centres of the 0.9 mm grid inside the 1.8 mm voxels
    fine = nib.Nifti1Image(np.zeros(tuple(2 * n for n in roi.shape), np.int16), fine_affine)
    up = resample_atlas(roi, fine)
    assert up.shape == fine.shape
    assert set(np.unique(up.get_fdata())) <= set(np.unique(roi.get_fdata()))
    back = resample_atlas(up, roi)
    # nilearn's field of view ends at the outermost voxel centres, so only the border slices may differ
    inner = (slice(1, -1),) * 3
    np.testing.assert_array_equal(back.get_fdata()[inner], roi.get_fdata()[inner])
    assert set(np.unique(back.get_fdata())) == set(np.unique(roi.get_fdata()))
