"""Any single-trial study through a study table: the mini-NSD exported as a table reads back to the responses the
NSD reader makes of the same files; .npy betas; errors naming the file or key."""

import numpy as np
import pytest
import yaml

from voxelflow.errors import InputError
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject
from voxelflow.study_table import StudyTable, export_table


@pytest.fixture(scope="module")
def table(mini_root, tmp_path_factory):
    return export_table(mini_root, tmp_path_factory.mktemp("table") / "study.yaml", ["subj01", "subj04"])


@pytest.mark.parametrize("subject", ["subj01", "subj04"])  # subj01 has a dead voxel, subj04 fewer sessions
def test_a_table_study_reads_as_the_nsd_reader_reads_the_same_files(table, mini_root, subject):
    study = StudyTable(table)
    from_table = preprocess_subject(study.subject(subject), test_ids=study.test_ids(subject), keep_trials=True)
    from_nsd = preprocess_subject(NSDStudy(mini_root).subject(subject), keep_trials=True)
    np.testing.assert_array_equal(from_table.image_ids, from_nsd.image_ids)
    np.testing.assert_array_equal(from_table.split, from_nsd.split)
    np.testing.assert_array_equal(from_table.ijk, from_nsd.ijk)
    np.testing.assert_allclose(from_table.responses, from_nsd.responses, atol=1e-6)
    np.testing.assert_allclose(from_table.ncsnr, from_nsd.ncsnr)
    np.testing.assert_allclose(from_table.noise_ceiling, from_nsd.noise_ceiling, rtol=1e-6)
    np.testing.assert_array_equal(from_table.hemisphere, from_nsd.hemisphere)
    for roi in ("V1", "FFA-1", "floc-places", "lh.hV4"):
        np.testing.assert_array_equal(from_table.rois.mask(roi), from_nsd.rois.mask(roi))


def test_npy_betas_and_a_table_without_split_column(table, tmp_path):
    study = StudyTable(table)
    entry = study.entry("subj01")
    subject = study.subject("subj01")
    betas = [subject.read_session(i) for i in range(len(subject.session_paths))]
    for i, b in enumerate(betas):
        np.save(tmp_path / f"s{i + 1}.npy", b)
    trials = study.trials("subj01").drop(columns="split")
    trials.to_csv(tmp_path / "trials.tsv", sep="\t", index=False)
    copy = {"images": str(study.images), "subjects": {"subj01": {
        **{k: v for k, v in entry.items() if k not in ("betas", "trials", "valid")},
        "betas": [f"s{i + 1}.npy" for i in range(len(betas))], "trials": "trials.tsv"}}}
    (tmp_path / "npy.yaml").write_text(yaml.safe_dump(copy))
    npy = StudyTable(tmp_path / "npy.yaml")
    np.testing.assert_array_equal(npy.subject("subj01").read_session(1), betas[1])
    # one subject and no split column: every image it saw is "seen by every subject", so all are test images
    assert len(npy.test_ids("subj01")) == len(npy.image_ids("subj01"))


def test_bad_tables_are_named(table, tmp_path):
    content = yaml.safe_load(table.read_text())
    content["subjects"]["subj01"]["betaz"] = content["subjects"]["subj01"].pop("betas")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(content))
    with pytest.raises(InputError, match=r"bad\.yaml: subjects\.subj01: unknown key 'betaz'"):
        StudyTable(tmp_path / "bad.yaml")
    content["subjects"]["subj01"]["betas"] = content["subjects"]["subj01"].pop("betaz")[:-1]
    content["subjects"]["subj01"]["trials"] = str(table.parent / "subj01_trials.tsv")
    (tmp_path / "short.yaml").write_text(yaml.safe_dump(content))
    with pytest.raises(InputError, match=r"subjects\.subj01: 5 betas files but the trials table's sessions are"):
        StudyTable(tmp_path / "short.yaml").subject("subj01")
    with pytest.raises(InputError, match="unknown subject 'subj02'"):
        StudyTable(table).subject("subj02")


def test_the_export_command_writes_a_table_the_reader_takes(mini_root, tmp_path, capsys):
    from voxelflow.cli import main

    main(["export-table", str(mini_root), str(tmp_path / "t/study.yaml"), "--subjects", "subj02", "subj03"])
    assert capsys.readouterr().out.strip() == str(tmp_path / "t/study.yaml")
    study = StudyTable(tmp_path / "t/study.yaml")
    assert study.subjects == ["subj02", "subj03"] and (tmp_path / "t/subj03_trials.tsv").is_file()
    assert set(study.trials("subj02").columns) == {"session", "image", "split"}


def test_trials_may_name_image_files(table, tmp_path):
    from PIL import Image

    from voxelflow.nsd_layout import read_stimuli

    study = StudyTable(table)
    trials = study.trials("subj01")
    ids = np.unique(trials["image"])
    for i in ids:  # every image the subject saw, as a PNG of its own
        Image.fromarray(read_stimuli(study.images, [i])[0]).save(tmp_path / f"img{i:05d}.png")
    trials["image"] = [f"img{i:05d}.png" for i in trials["image"]]
    trials.to_csv(tmp_path / "trials.tsv", sep="\t", index=False)
    entry = {**study.entry("subj01"), "trials": "trials.tsv"}
    (tmp_path / "files.yaml").write_text(yaml.safe_dump({"subjects": {"subj01": entry}}))
    files = StudyTable(tmp_path / "files.yaml")
    assert files.images is None and len(files.image_files) == len(ids)
    np.testing.assert_array_equal(files.image_ids("subj01"), np.arange(len(ids)))  # ids: places in the file list
    # the table itself is the stimulus source: image k is the k-th file
    np.testing.assert_array_equal(read_stimuli(tmp_path / "files.yaml", [3]), read_stimuli(study.images, [ids[3]]))
    np.testing.assert_array_equal(files.test_ids("subj01"), np.flatnonzero(np.isin(ids, study.test_ids("subj01"))))
