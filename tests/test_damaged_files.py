"""Damaged files and a failing machine give one line naming the file (and the rule that wrote it), never a
traceback or advice to unpickle."""

import errno
import shutil

import numpy as np
import pytest
import torch

from voxelflow.decoders.metric_networks import load_network
from voxelflow.toolkit.model_files import read_model_file
from voxelflow.encoders.features import load_features
from voxelflow.errors import InputError
from voxelflow.nsd_layout import NSDLayout, read_stimuli
from voxelflow.responses import read_responses, write_responses
from voxelflow.script_runner import run_reporting_errors


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_features_name_the_file_and_the_rule(encoding_data, tmp_path):
    path = tmp_path / "results/features/gabor.h5"
    path.parent.mkdir(parents=True)
    shutil.copy(encoding_data.root / "gabor.h5", path)
    _truncate(path)
    with pytest.raises(InputError, match=r"results/features/gabor.h5 \(features\) is truncated or corrupt .*written "
                                         r"by rule extract_features: delete it and rerun"):
        load_features(path, encoding_data.responses.image_ids[:3])


def test_truncated_response_store_names_the_rule(encoding_data, tmp_path):
    path = tmp_path / "results/subj01/responses.h5"
    write_responses(path, encoding_data.responses)
    _truncate(path, 0.3)
    with pytest.raises(InputError, match="responses.h5 \\(response store\\) is truncated or corrupt .*rule "
                                         "preprocess_subject"):
        read_responses(path)


def test_truncated_stimulus_brick_is_named(mini_copy):
    path = NSDLayout(mini_copy).stimuli
    _truncate(path)
    with pytest.raises(InputError, match=r"nsd_stimuli.hdf5 \(stimulus brick\) is truncated or corrupt"):
        read_stimuli(path, [0, 1])


def test_garbage_model_and_weights_files_are_named(tmp_path):
    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"not a torch file at all" * 10)
    with pytest.raises(InputError, match=r"model.pt \(a transformer encoder\) is truncated or corrupt"):
        read_model_file(garbage, "encoder", "transformer", "a transformer encoder")
    pickled = tmp_path / "alexnet.pth"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole pickled module, not its state dict
    with pytest.raises(InputError) as caught:
        load_network("alexnet", pickled)
    message = str(caught.value)
    assert "alexnet.pth" in message and "is not a plain state dict of tensors" in message
    assert "weights_only=False" not in message
    torch.save(torch.zeros(3), pickled)
    with pytest.raises(InputError, match="holds a Tensor, not a state dict"):
        load_network("alexnet", pickled)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_full_disk_and_denied_permission_are_one_line(tmp_path, capsys, code):
    def task():
        raise OSError(code, "machine trouble", str(tmp_path / "results/subj01/responses.h5"))

    with pytest.raises(SystemExit) as stop:
        run_reporting_errors(task)
    assert stop.value.code == 1
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == 1 and printed[0].endswith(f"error: {tmp_path}/results/subj01/responses.h5: machine trouble")


def test_other_os_errors_are_bugs_with_their_traceback(capsys):
    def task():
        raise OSError(errno.EIO, "input/output error")

    with pytest.raises(OSError):
        run_reporting_errors(task)
    assert "unexpected failure" in capsys.readouterr().err


def test_features_of_a_healthy_file_still_load(encoding_data):
    ids = encoding_data.responses.image_ids[:4]
    assert np.isfinite(load_features(encoding_data.root / "gabor.h5", ids).pooled).all()
