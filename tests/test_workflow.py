"""The Snakemake DAG as a user runs it: dry run, lint, bad config, and (slow) whole runs."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import update_config

from voxelflow.nsd_layout import NSDLayout
from voxelflow.tables import read_table

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
SMALL_MININSD = {"n_subjects": 3, "n_shared": 20, "n_unique": 40, "n_sessions": 4,
                 "fewer_sessions": {"subj02": 3}, "grid": [18, 22, 14]}


def _run(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    # one thread a job, so two jobs run at once on 2 cores, as `make demo` runs
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(configfile),
                           "--cores", "2", "--max-threads", "1", *args], capture_output=True, text=True)


def _shipped_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def _full_demo_config() -> dict:
    """config.yaml overridden by configs/demo-full.yaml, as `make demo-full` reads them."""
    config = _shipped_config()
    update_config(config, yaml.safe_load((REPO / "configs/demo-full.yaml").read_text()))
    return config


RULES = ("make_mininsd", "preprocess_subject", "extract_features", "fit_ridge", "fit_transformer", "encoding_maps",
         "encoding_roi_bars", "transformer_routing", "encoder_comparison", "meta_train_in_context", "fit_in_context",
         "few_shot_curve", "context_attention", "text_selectivity", "fit_contrastive", "fit_prior", "fit_low_level",
         "train_generator", "reconstruct", "score_reconstructions", "decoding_summary", "synthesize", "synthesis_grid",
         "score_synthesis", "pretrain_shared_decoder", "few_data_decoders", "few_data_encoders", "few_data_summary",
         "summarize_encoder", "sweep_ridge_layers", "layer_hierarchy", "rsa", "caption_voxels",
         "synthesize_from_captions")


def test_dry_run_plans_the_jobs_per_subject_and_backbone(tmp_path):
    proc = _run(tmp_path, _full_demo_config(), "-n")
    assert proc.returncode == 0, proc.stderr
    jobs = {line.split()[0]: int(line.split()[1]) for line in proc.stdout.splitlines()
            if len(line.split()) == 2 and line.split()[0] in RULES}
    # 4 subjects x 3 backbones (gabor, stages, tiny-clip) x 3 encoders (ridge, transformer, in_context); in-context
    # networks leave one subject out (4 per backbone); text prompts only for the open_clip backbone
    # features per (backbone, subject): adding a subject extracts only its images
    assert jobs == {"make_mininsd": 1, "preprocess_subject": 4, "extract_features": 12, "fit_ridge": 12,
                    "fit_transformer": 12, "encoding_maps": 36, "encoding_roi_bars": 1, "transformer_routing": 12,
                    "encoder_comparison": 12, "meta_train_in_context": 12, "fit_in_context": 12, "few_shot_curve": 12,
                    "context_attention": 12, "text_selectivity": 4,
                    # layer sweep (ridge.layers: all): the backbones with several layers, stages and tiny-clip
                    # (layer: all), per subject; one hierarchy figure per backbone over all subjects
                    "sweep_ridge_layers": 8, "layer_hierarchy": 2,
                    # RSA and tRSA of every ROI against every backbone layer, all subjects together; voxel captions
                    "rsa": 1, "caption_voxels": 4, "synthesize_from_captions": 4,
                    # decoders: one target backbone; one generator for all subjects
                    "fit_contrastive": 4, "fit_prior": 4, "fit_low_level": 4, "train_generator": 1,
                    "reconstruct": 4, "score_reconstructions": 4, "decoding_summary": 1,
                    # MindEye2: each subject's decoder fine-tuned from a model pretrained on the other three (loso);
                    # few-data curves of every held-out subject, encoders and decoders apart, and their summary
                    "pretrain_shared_decoder": 4, "few_data_decoders": 4, "few_data_encoders": 4, "few_data_summary": 1,
                    # synthesis: 5 targets + unguided per subject, each with its grid; one scoring job per subject
                    "synthesize": 24, "synthesis_grid": 24, "score_synthesis": 4,
                    # per-ROI summaries of each encoder's scores, apart from its fit (rois is no fit setting)
                    "summarize_encoder": 36}
    # every job a cluster would queue is sized; only the cheap plotting and summary rules run unsized, where
    # snakemake runs (localrules)
    local = {name for path in [REPO / "Snakefile", *(REPO / "workflow/rules").glob("*.smk")]
             for block in re.findall(r"^localrules:\n((?:    \w+,\n)+)", path.read_text(), re.MULTILINE)
             for name in block.replace(",", "").split()}
    blocks = [block for block in re.split(r"^\[.*\]$", proc.stdout, flags=re.MULTILINE) if "resources:" in block]
    resources = {re.search(r"^rule (\w+):$", block, re.MULTILINE).group(1):
                 re.search(r"resources: (.*)", block).group(1) for block in blocks}
    unsized = {rule for rule, values in resources.items()
               if not (re.search(r"mem_mb=\d+", values) and re.search(r"runtime=\d+", values))}
    assert unsized == local & set(resources) == {"all", "encoding_maps", "encoding_roi_bars", "encoder_comparison", "decoding_summary",
                                "synthesis_grid", "summarize_encoder", "few_data_summary"}


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("contrastive"), "decoders.reconstruction needs decoders.contrastive"),
    (lambda d: d["contrastive"].update(target="clip-L"), "decoders.contrastive.target 'clip-L' is not among backbones"),
])
def test_bad_decoder_config_is_a_clear_error(tmp_path, change, message):
    config = _shipped_config()
    change(config["decoders"])
    proc = _run(tmp_path, config, "-n")
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(validate=dict(d["guide"])), "synthesis.validate must differ from synthesis.guide"),
    (lambda d: d.update(guide={"encoder": "ridge", "backbone": "clip-L"}),
     "synthesis.guide names ridge on clip-L, but the config fits"),
    (lambda d: d["targets"].update({"unguided": "V1"}), "synthesis.targets: 'unguided' should not be valid"),
    (lambda d: d["targets"].update({"a/b": "V1"}), "synthesis.targets: 'a/b' does not match"),
    (lambda d: d.update(scale=-1), "synthesis.scale: -1 is less than the minimum of 0"),
])
def test_bad_synthesis_config_is_a_clear_error(tmp_path, change, message):
    config = _shipped_config()
    change(config["synthesis"])
    proc = _run(tmp_path, config, "-n")
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(rois=["V1", "FFA-9", "hv4"]), "config.yaml: rois: unknown ROI 'FFA-9'; did you mean 'FFA-2'"),
    (lambda c: c.update(rois=["V1", "V3A"]), "rois: ROI 'V3A' is a label of several families (HCP_MMP1, Kastner2015); "
                                             "name one: HCP_MMP1.V3A, Kastner2015.V3A"),
    (lambda c: c["synthesis"]["targets"].update(faces="floc-face"), "synthesis.targets.faces: unknown ROI 'floc-face'"),
    (lambda c: c["encoders"]["transformer"].update(partition="stream"), "partition: 'stream' is not an ROI family"),
    (lambda c: (c["decoders"]["contrastive"].update(train_on="trials"), c["decoders"]["contrastive"].pop("shared"),
                c["preprocess"].update(keep_trials=False)),
     "train_on: trials needs preprocess.keep_trials"),
    (lambda c: c["decoders"]["contrastive"]["shared"].update(pretrain=["subj01", "subj09"]),
     "config.yaml: decoders.contrastive.shared.pretrain names subj09, not among subjects (subj01, subj02)"),
    (lambda c: c["decoders"]["contrastive"]["shared"].update(sessions={"subj03": 1}),
     "config.yaml: decoders.contrastive.shared.sessions names subj03, not among subjects (subj01, subj02)"),
    (lambda c: c["preprocess"].update(keep_trials=False),
     "new_subject_sessions train on a subject's first sessions, which needs its single trials: set "
     "preprocess.keep_trials: true"),
    (lambda c: c["encoders"]["transformer"].update(n_heads=3), "encoders.transformer.d_model (64) must be divisible "
                                                               "by n_heads (3)"),
    (lambda c: c["encoders"]["in_context"].update(context_min=500), "encoders.in_context needs 2 <= context_min <= "
                                                                    "context_max"),
    (lambda c: c["backbones"].update(clip={"type": "open_clip", "model": "ViT-B-16",
                                           "pretrained": "/weights/none.bin"}),
     "config.yaml: backbones.clip.pretrained: /weights/none.bin does not exist"),
    (lambda c: c["backbones"].update(dino={"type": "huggingface", "path": "/weights/dinov2-base"}),
     "config.yaml: backbones.dino.path: /weights/dinov2-base does not exist"),
    (lambda c: c["backbones"].update(dino={"type": "timm", "model": "vit_base_patch14_dinov2", "tokens": {"grid": 0}}),
     "config.yaml: backbones.dino.tokens.grid: 0 is less than the minimum of 1"),
    (lambda c: (c.update(subjects=["subj01"]), c["encoders"].pop("in_context")),
     "config.yaml: rsa needs 2 or more subjects (noise ceilings and identification compare subjects), but subjects "
     "lists subj01"),
    (lambda c: (c["rsa"].update(distance="crossnobis"), c["preprocess"].update(keep_trials=False),
                c.update(decoders={}), c.pop("synthesis")),  # (the decoders' few-session curves need trials too)
     "config.yaml: rsa.distance: crossnobis needs preprocess.keep_trials: true"),
    (lambda c: c.update(dataset="table"), "config.yaml: dataset: table needs study_table: the path of the study "
                                          "table (YAML)"),
    (lambda c: c["captions"].update(backbone="clip"),
     "config.yaml: captions reads the ridge encoder on 'clip', but the config fits"),
    (lambda c: c["captions"].update(captioner="/weights/clipcap"),
     "config.yaml: captions.captioner: /weights/clipcap is not a folder"),
    (lambda c: c["captions"]["synthesis"].update(generator="/weights/sd-1.5"),
     "config.yaml: captions.synthesis.generator: /weights/sd-1.5 is not a diffusers Stable Diffusion folder"),
    (lambda c: c["encoders"]["ridge"].update(layers=["gabor", "dino"]),
     "config.yaml: encoders.ridge.layers names 'dino', which is not among backbones (gabor, stages)"),
    (lambda c: c.update(subjects=["subj01", "subj05"]),
     "config.yaml: subjects: subj05 is not in the mini-NSD, which holds subj01 .. subj04 (mininsd.n_subjects: 4)"),
    (lambda c: c["decoders"]["reconstruction"].update(metric_networks={"alexnet": "/w/alexnet.pth"}),
     "decoders.reconstruction.metric_networks.alexnet: /w/alexnet.pth does not exist"),
])
def test_bad_names_stop_the_plan_before_any_job(tmp_path, change, message):
    config = _shipped_config()
    change(config)
    proc = _run(tmp_path, config, "-n")
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def _planned(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count of a dry run's plan."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    return {row[0]: int(row[1]) for row in rows
            if len(row) == 2 and row[0].isidentifier() and row[1].isdigit() and row[0] != "total"}


def _restore_changed(path: Path) -> None:
    """Replace a study file by a valid copy with other content (a fixed file restored over a broken one)."""
    if path.name.endswith(".nii.gz"):
        image = nib.load(path)
        data = np.asarray(image.dataobj).copy()
        data.flat[np.argmax(data)] = 0
        nib.save(nib.Nifti1Image(data, image.affine, image.header), path)
    elif path.suffix == ".hdf5":
        with h5py.File(path, "r+") as f:
            f["betas"][0, 0, 0, 0] += 1
    else:
        path.write_text(path.read_text() + "\n" if path.suffix == ".ctab" else path.read_text().replace(",", ", ", 1))


def test_every_file_preprocessing_reads_is_an_input(tmp_path, mini_copy):
    """Replacing any one file of a subject's study data (a session, a validity volume, an ROI volume, a label
    table, the stimulus CSV) plans exactly the preprocessing it feeds again."""
    config = {**_shipped_config(), "dataset": "nsd", "data_root": str(mini_copy), "subjects": ["subj02", "subj03"]}
    targets = ["results/subj02/responses.h5", "results/subj03/responses.h5"]
    proc = _run(tmp_path, config, *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _planned(_run(tmp_path, config, "-n", *targets)) == {}
    layout = NSDLayout(mini_copy)
    for path, planned in [(layout.valid_session("subj03", 2), {"preprocess_subject": 1}),
                          (layout.betas_session("subj02", 4, "hdf5"), {"preprocess_subject": 1}),
                          (layout.label_table("subj03", "floc-faces"), {"preprocess_subject": 1}),
                          (layout.roi("subj02", "rh.streams"), {"preprocess_subject": 1}),
                          (layout.stim_info, {"preprocess_subject": 2})]:
        time.sleep(0.01)
        _restore_changed(path)
        assert _planned(_run(tmp_path, config, "-n", *targets)) == planned, path
        proc = _run(tmp_path, config, *targets)
        assert proc.returncode == 0, proc.stderr[-3000:]


def _pretend_finished(workdir: Path, config: dict) -> None:
    """Mark every job of `config` as done without running it: create its outputs in DAG order, then let
    Snakemake record their metadata (--touch), as a finished run would leave them."""
    proc = _run(workdir, config, "--summary")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for row in proc.stdout.splitlines()[1:]:
        path = workdir / row.split("\t")[0]
        if ("results/generator/" in str(path) and path.suffix == "") or path.name.startswith("nsddata"):
            path.mkdir(parents=True, exist_ok=True)  # directory() outputs
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    proc = _run(workdir, config, "--touch", "--forceall")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _planned(_run(workdir, config, "-n")) == {}


@pytest.fixture(scope="module")
def finished_nsd_workdir(tmp_path_factory, mini_root):
    """A work folder where an NSD-mode run of subj01 and subj02 counts as done (tests only plan in it)."""
    workdir = tmp_path_factory.mktemp("finished")
    _pretend_finished(workdir, _finished_config(mini_root))
    return workdir


def _finished_config(mini_root) -> dict:
    return {**_full_demo_config(), "dataset": "nsd", "data_root": str(mini_root), "subjects": ["subj01", "subj02"]}


@pytest.fixture()
def finished_nsd_run(finished_nsd_workdir, mini_root):
    """The finished work folder and a fresh copy of its config for a test to edit."""
    return finished_nsd_workdir, _finished_config(mini_root)


def test_adding_a_subject_plans_only_its_jobs_and_the_pooled_ones(finished_nsd_run):
    workdir, config = finished_nsd_run
    planned = _planned(_run(workdir, {**config, "subjects": ["subj01", "subj02", "subj03"]}, "-n"))
    # three backbones (gabor, stages, tiny-clip); the layer sweep of the two with several layers
    per_subject = {"preprocess_subject": 1, "extract_features": 3, "fit_ridge": 3, "fit_transformer": 3,
                   "encoding_maps": 9, "transformer_routing": 3, "encoder_comparison": 3, "fit_in_context": 3,
                   "few_shot_curve": 3, "context_attention": 3, "text_selectivity": 1, "fit_contrastive": 1,
                   "fit_prior": 1, "fit_low_level": 1, "reconstruct": 1, "score_reconstructions": 1, "synthesize": 6,
                   "synthesis_grid": 6, "pretrain_shared_decoder": 1, "few_data_decoders": 1, "few_data_encoders": 1,
                   "score_synthesis": 1, "summarize_encoder": 9, "sweep_ridge_layers": 2, "caption_voxels": 1,
                   "synthesize_from_captions": 1}
    # by design pooled: the leave-one-out networks of subj01/02 now include subj03 (and their in-context jobs
    # follow), subj03's own network, the group figures; the demo generator pools every subject's training images,
    # so every subject's reconstructions and syntheses are redrawn
    pooled = {"meta_train_in_context": 9, "fit_in_context": 6, "encoding_maps": 6, "few_shot_curve": 6,
              "context_attention": 6, "text_selectivity": 2, "encoding_roi_bars": 1, "decoding_summary": 1,
              "train_generator": 1, "summarize_encoder": 6, "layer_hierarchy": 2, "rsa": 1,
              "reconstruct": 2, "score_reconstructions": 2, "synthesize": 12, "synthesis_grid": 12, "score_synthesis": 2,
              # the shared decoders pretrained without subj01 / subj02 now include subj03, and what they start follows
              "pretrain_shared_decoder": 2, "fit_contrastive": 2, "fit_prior": 2, "few_data_decoders": 2,
              "few_data_encoders": 2, "few_data_summary": 1,
              "all": 1}
    expected = {rule: per_subject.get(rule, 0) + pooled.get(rule, 0) for rule in {*per_subject, *pooled}}
    assert planned == expected


def test_adding_a_subject_to_the_demo_leaves_the_mini_nsd_and_the_other_subjects_alone(tmp_path):
    config = _shipped_config()
    _pretend_finished(tmp_path, config)
    planned = _planned(_run(tmp_path, {**config, "subjects": [*config["subjects"], "subj03"]}, "-n"))
    assert "make_mininsd" not in planned  # it writes mininsd.n_subjects subjects, whoever is listed
    assert planned["preprocess_subject"] == 1
    assert planned["extract_features"] == planned["fit_ridge"] == 2  # gabor and stages


def test_a_scoring_option_plans_only_scoring_jobs(finished_nsd_run):
    workdir, config = finished_nsd_run
    config["synthesis"]["n_natural"] = 5
    assert _planned(_run(workdir, config, "-n")) == {"score_synthesis": 2, "synthesis_grid": 12, "all": 1}
    config["synthesis"]["targets"]["faces-2"] = "FFA"  # a new target: only its own jobs
    assert _planned(_run(workdir, config, "-n")) == {"synthesize": 2, "synthesis_grid": 14, "score_synthesis": 2,
                                                     "all": 1}


def test_a_caption_synthesis_option_redraws_the_images_not_the_captions(finished_nsd_run):
    workdir, config = finished_nsd_run
    config["captions"]["synthesis"]["n_images"] = 4
    assert _planned(_run(workdir, config, "-n")) == {"synthesize_from_captions": 2, "all": 1}


def test_a_metric_protocol_or_network_edit_rescores_without_regenerating(finished_nsd_run):
    workdir, config = finished_nsd_run
    config["decoders"]["reconstruction"]["protocols"] = ["voxelflow", "mindeye2", "brain-diffuser"]
    assert _planned(_run(workdir, config, "-n")) == {"score_reconstructions": 2, "decoding_summary": 1, "all": 1}
    config["decoders"]["reconstruction"]["samples"] = 4  # a sampling setting: the images are made again
    assert _planned(_run(workdir, config, "-n")) == {"reconstruct": 2, "score_reconstructions": 2,
                                                     "decoding_summary": 1, "all": 1}


def test_an_roi_list_edit_plans_only_summaries_and_figures(finished_nsd_run):
    workdir, config = finished_nsd_run
    config["rois"] = [*config["rois"], "EVC"]
    planned = _planned(_run(workdir, config, "-n"))
    # no encoder is refitted: the ROI list is read by summaries, figures and the per-ROI few-shot curves
    # (3 backbones; the layer sweeps' ROI tables are drawn by layer_hierarchy, not by their fits)
    assert planned == {"summarize_encoder": 18, "encoding_maps": 18, "encoding_roi_bars": 1, "encoder_comparison": 6,
                       "few_shot_curve": 6, "context_attention": 6, "text_selectivity": 2, "few_data_encoders": 2,
                       "few_data_summary": 1, "layer_hierarchy": 2, "rsa": 1, "all": 1}


def test_shared_decoder_options_rerun_exactly_the_jobs_that_read_them(finished_nsd_run):
    workdir, config = finished_nsd_run
    contrastive = config["decoders"]["contrastive"]
    contrastive["new_subject_sessions"] = [1, 3, "all"]  # the curves only, never the subjects' own decoders
    assert _planned(_run(workdir, config, "-n")) == {"few_data_decoders": 2, "few_data_encoders": 2,
                                                     "few_data_summary": 1, "all": 1}
    contrastive["new_subject_sessions"] = [1, 2, 5, "all"]
    contrastive["n_draws"] = 10  # retrieval scoring: the decoders rescore (fit_contrastive writes its retrieval)
    assert "pretrain_shared_decoder" not in _planned(_run(workdir, config, "-n"))
    contrastive["n_draws"] = 30
    contrastive["shared"]["fine_tune"] = "adapter"  # fine-tuning: not the pretrained models
    planned = _planned(_run(workdir, config, "-n"))
    assert "pretrain_shared_decoder" not in planned and "few_data_encoders" not in planned
    assert planned["fit_contrastive"] == planned["few_data_decoders"] == planned["reconstruct"] == 2
    contrastive["shared"]["fine_tune"] = "all"
    contrastive["shared"]["epochs"] = 7  # pretraining: the pretrained models and all they start
    planned = _planned(_run(workdir, config, "-n"))
    assert planned["pretrain_shared_decoder"] == planned["fit_contrastive"] == planned["few_data_decoders"] == 2


def test_adding_a_backbone_plans_only_its_jobs(finished_nsd_run):
    workdir, config = finished_nsd_run
    config["backbones"]["gabor-2"] = {"type": "gabor"}
    planned = _planned(_run(workdir, config, "-n"))
    assert planned["extract_features"] == 2 and planned["fit_ridge"] == 2 and "preprocess_subject" not in planned
    assert "synthesize" not in planned and "fit_contrastive" not in planned  # they use other backbones


def test_pretraining_on_three_subjects_decodes_a_fourth_from_one_session(tmp_path):
    config = {**_shipped_config(), "subjects": ["subj01", "subj02", "subj03", "subj04"]}
    config["decoders"]["contrastive"]["shared"] = {"pretrain": ["subj01", "subj02", "subj03"],
                                                   "sessions": {"subj04": 1}}
    proc = _run(tmp_path, config, "-n", "-p")
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned = _planned(proc)
    # one model for everyone; every subject's decoder starts from it; only subj04 was never seen: its curves
    assert planned["pretrain_shared_decoder"] == 1 and planned["fit_contrastive"] == 4
    assert planned["few_data_decoders"] == planned["few_data_encoders"] == 1
    assert "output: results/decoders/contrastive/fixed/model.pt" in proc.stdout
    assert "results/subj04/few_data/decoders.tsv" in proc.stdout and "results/subj01/few_data" not in proc.stdout
    subj04 = next(block for block in proc.stdout.split("\n\n") if "rule fit_contrastive" in block
                  and "results/subj04/decoders/contrastive/model.pt" in block)
    assert "results/decoders/contrastive/fixed/model.pt" in subj04


def test_an_unknown_subject_stops_the_plan(tmp_path, mini_root):
    config = {**_shipped_config(), "dataset": "nsd", "data_root": str(mini_root), "subjects": ["subj01", "subj07"]}
    proc = _run(tmp_path, config, "-n")
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "unknown subject 'subj07': " in output and "has subj01, subj02, subj03, subj04" in output


def test_in_context_with_one_subject_is_a_clear_error(tmp_path):
    config = {**_shipped_config(), "subjects": ["subj01"]}
    del config["rsa"]
    proc = _run(tmp_path, config, "-n")
    assert proc.returncode != 0
    assert ("in_context.train_subjects: loso needs at least two subjects; subj01 has no other subject to train on"
            in proc.stdout + proc.stderr)


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_config_typo_stops_before_any_job(tmp_path):
    config = _shipped_config()
    config["subjectz"] = config.pop("subjects")
    proc = _run(tmp_path, config, "-n")
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "config.yaml: top level: Additional properties are not allowed ('subjectz' was unexpected)" in output
    assert len(output.splitlines()) < 8  # one message, not a schema dump


@pytest.mark.slow
def test_demo_runs_end_to_end_and_a_new_subject_is_one_config_line(tmp_path):
    config = {**_full_demo_config(), "subjects": ["subj01", "subj02"], "mininsd": SMALL_MININSD,
              "backbones": {"gabor": {"type": "gabor"}}}
    config["captions"].update(backbone="gabor", top_voxels=20)  # BrainSCUBA's captions on the Gabor bank's ridge
    config["captions"]["synthesis"].update(n_images=4, validate={"encoder": "transformer", "backbone": "gabor"})
    config["encoders"]["in_context"].update(steps=60, eval_every=30, context_max=20, n_query=10,
                                            few_shot={"ks": [10, "all"], "repeats": 1})
    config["decoders"]["contrastive"].update(hidden=64, projector_hidden=64, epochs=4, batch_size=16)
    config["decoders"]["contrastive"]["shared"]["sessions"] = {"subj02": 1}  # subj02 decoded from one session
    config["decoders"]["reconstruction"].update(train_generator={"image_size": 16, "channels": [8, 16], "steps": 10},
                                                prior={"width": 32, "n_layers": 1, "n_heads": 2, "epochs": 2},
                                                steps=3, low_level_size=8)
    config["synthesis"].update(n_images=2, steps=3, n_natural=3)
    proc = _run(tmp_path, config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for subject in ("subj01", "subj02"):
        with h5py.File(tmp_path / f"results/{subject}/responses.h5") as f:
            assert f["responses"].shape[0] == f["image_ids"].shape[0] > 0
            assert set(f["split"][()].astype(str)) == {"train", "test"}
            n_train = int((f["split"][()] == b"train").sum())
            n_test = int((f["split"][()] == b"test").sum())  # the shared images this subject saw
            assert 15 <= n_test <= 20
        summary = json.loads((tmp_path / f"results/{subject}/encoders/ridge/gabor/summary.json").read_text())
        assert summary["rois"]["V1"]["median_r"] > 0.3
        # 40 training images are too few for the transformer to learn much: check the outputs, not the science
        summary = json.loads((tmp_path / f"results/{subject}/encoders/transformer/gabor/summary.json").read_text())
        assert summary["encoder"] == "transformer" and summary["n_test"] == n_test
        assert all(abs(values["median_r"]) <= 1 for values in summary["rois"].values())
        assert not (tmp_path / f"results/{subject}/encoders/transformer/gabor/checkpoint.pt").exists()
        summary = json.loads((tmp_path / f"results/{subject}/encoders/in_context/gabor/summary.json").read_text())
        other = "subj02" if subject == "subj01" else "subj01"
        assert summary["held_out"] and summary["meta_trained_on"] == other and summary["context_images"] == n_train
        few_shot = (tmp_path / f"results/{subject}/encoders/in_context/gabor/few_shot.tsv").read_text().splitlines()
        assert few_shot[0].startswith("method\tk\trepeat\troi") and len(few_shot) > 8
        retrieval = json.loads((tmp_path / f"results/{subject}/decoders/contrastive/retrieval.json").read_text())
        assert retrieval["n_candidates"] == retrieval["n_test"] == n_test and retrieval["chance"] == 1 / n_test
        assert retrieval["pretrained_on"] == [other]  # MindEye2, leave one subject out
        assert retrieval["training_sessions"] == (1 if subject == "subj02" else retrieval["sessions"])
        curves = pd.concat([read_table(tmp_path / f"results/{subject}/few_data/{models}.tsv")
                            for models in ("encoders", "decoders")])
        assert set(curves["method"]) == {"ridge", "in-context", "from scratch", "pretrained + adapter"}
        assert sorted(set(curves["sessions"])) == [1, 2, retrieval["sessions"]]  # 1, 2, 5 and all of 3 or 4
        with h5py.File(tmp_path / f"results/{subject}/decoders/reconstruction/reconstructions.h5") as f:
            assert f["images"].shape == (n_test, 16, 16, 3) and f["blurry"].shape == (n_test, 8, 8, 3)
        metrics = (tmp_path / f"results/{subject}/decoders/reconstruction/metrics.tsv").read_text().splitlines()
        assert metrics[0].split("\t")[:7] == ["subject", "protocol", "images", "headline", "PixCorr", "SSIM",
                                               "two-way gabor (target)"]
        # protocols voxelflow and mindeye2 (the shipped default) x (reconstruction, low-level, blend)
        assert len(metrics) == 1 + 2 * 3 and "unavailable" in metrics[1]  # no AlexNet etc. weights configured
        scores = (tmp_path / f"results/{subject}/synthesis/scores.tsv").read_text().splitlines()
        assert scores[0] == "target\timages\tscorer\tn\tmean\tsem"
        # 5 targets x (6 image sets x 3 scorers + 3 natural sets measured)
        assert len(scores) == 1 + 5 * (6 * 3 + 3) and sum("\ttrue brain\t" in row for row in scores) == 5 * 6
        with h5py.File(tmp_path / f"results/{subject}/synthesis/faces.h5") as f:
            assert f["images"].shape == (2, 16, 16, 3) and f.attrs["target"] == "faces" and f.attrs["scale"] > 0
        assert (tmp_path / f"results/{subject}/figures/synthesis/faces-minus-places.png").is_file()
    assert (tmp_path / "logs/subj01/preprocess.log").read_text()
    assert (tmp_path / "logs/benchmarks/subj01/preprocess.tsv").is_file()  # every compute rule is benchmarked
    assert (tmp_path / "results/figures/encoding_roi_bars.png").is_file()
    assert (tmp_path / "results/generator/gabor/unet/config.json").is_file()
    summary = read_table(tmp_path / "results/decoding_metrics.tsv")  # per protocol: 2 subjects and their mean
    assert summary.groupby("protocol")["subject"].apply(list).to_dict() == {
        "mindeye2": ["subj01", "subj02", "mean"], "voxelflow": ["subj01", "subj02", "mean"]}
    assert set(summary.loc[summary["protocol"] == "mindeye2", "images"]) == {"blend 0.75/0.25"}

    # RSA and tRSA of both subjects' ROIs against the Gabor bank (one RDM per analysis, ROI and model)
    comparisons = read_table(tmp_path / "results/rsa/comparisons.tsv")
    assert set(comparisons.analysis) == {"RSA", "tRSA 0.1-0.9", "tRSA 0-0.3"} and set(comparisons.model) == {
        "gabor/energy"}
    assert (comparisons.noise_ceiling_upper >= comparisons.noise_ceiling_lower).all()
    assert set(comparisons.distance) == {"crossnobis"}  # rsa.distance: auto, and the demo keeps the trials
    identification = read_table(tmp_path / "results/rsa/identification.tsv")
    assert (identification.n > 0).all() and len(identification) == 3 * 2
    captions = read_table(tmp_path / "results/subj01/captions/captions.tsv")
    assert set(captions.roi) <= set(config["captions"]["rois"]) and len(captions) <= 4 * 20
    assert set(captions.caption) <= {"face", "body", "place", "word", "food"}
    scores = read_table(tmp_path / "results/subj01/captions/image_scores.tsv")  # the caption images, scored
    assert set(scores.scorer) == {"ridge-gabor (captioned)", "transformer-gabor (validate)", "true brain",
                                  "measured"} and set(scores.target) == set(captions.roi)
    with h5py.File(tmp_path / "results/subj01/captions/images.h5") as f:
        assert f["unprompted/images"].shape == (4, 64, 64, 3)
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
                           "--report", "report.html"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (tmp_path / "report.html").read_text()
    assert "encoding_roi_bars.png" in report and "accuracy_map.png" in report and "routing.png" in report
    assert "few_shot.png" in report and "context_attention.png" in report and "few_data.png" in report
    assert "reconstructions.png" in report and "decoding_metrics.png" in report
    assert "synthesis" in report and "responses.png" in report
    assert "rsa_models.png" in report and "rsa_identification.png" in report and "rsa_rdms.png" in report
    assert "caption_words.png" in report and "caption_images.png" in report

    # a custom voxel mask that holds none of the subject's voxels: one clear error, no partial output
    with h5py.File(tmp_path / "results/subj01/responses.h5") as f:
        shape, affine = tuple(f.attrs["volume_shape"]), f["affine"][()]
    nib.save(nib.Nifti1Image(np.zeros(shape, np.uint8), affine), tmp_path / "empty.nii.gz")
    config["synthesis"]["targets"]["mine"] = {"mask": str(tmp_path / "empty.nii.gz")}
    proc = _run(tmp_path, config, "results/subj01/synthesis/mine.h5")
    assert proc.returncode != 0
    log = (tmp_path / "logs/subj01/synthesis/mine.log").read_text()
    assert "synthesis target 'mine': the voxel mask is empty" in log
    assert not (tmp_path / "results/subj01/synthesis/mine.h5").exists()
    del config["synthesis"]["targets"]["mine"]

    config["subjects"].append("subj03")
    proc = _run(tmp_path, config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "results/subj03/responses.h5").is_file()


@pytest.mark.slow
def test_the_demo_on_fsaverage_recovers_the_planted_tuning_on_the_surface(tmp_path):
    """NSD's fsaverage layout (the mini-NSD on fsaverage5) through the encoders, the layer sweep, RSA and the
    captions, with surface maps in place of volume slices."""
    config = {**_shipped_config(), "mininsd": {**SMALL_MININSD, "surface": True}}
    config["preprocess"]["space"] = "fsaverage"
    del config["encoders"]["in_context"]
    config["encoders"]["transformer"].update(epochs=15)
    config["decoders"] = {}
    del config["synthesis"]
    config["captions"].update(top_voxels=50)
    proc = _run(tmp_path, config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with h5py.File(tmp_path / "results/subj01/responses.h5") as f:
        assert f.attrs["space"] == "fsaverage" and "vertex" in f and "ijk" not in f
        assert set(f["hemisphere"][()].astype(str)) == {"lh", "rh"}
    for subject in ("subj01", "subj02"):
        ridge = json.loads((tmp_path / f"results/{subject}/encoders/ridge/stages/summary.json").read_text())["rois"]
        transformer = json.loads((tmp_path / f"results/{subject}/encoders/transformer/stages/summary.json")
                                 .read_text())["rois"]
        # measured (2026-12-05; subj02 has 3 sessions, subj01 4): ridge on stages V1 median NNA 61 / 46, hV4 77 /
        # 66, floc-places 46 / 24; the transformer's floc-faces 59 / 48 (its V1 near 0: 15 epochs on 40 images)
        assert ridge["V1"]["median_nna"] > 25 and ridge["hV4"]["median_nna"] > 35, subject
        assert ridge["floc-places"]["median_nna"] > 10 and transformer["floc-faces"]["median_nna"] > 25, subject
        assert (tmp_path / f"results/{subject}/figures/ridge-stages/surface_map.png").is_file()
        assert not (tmp_path / f"results/{subject}/figures/ridge-stages/accuracy_map.png").exists()
    best = read_table(tmp_path / "results/layer_hierarchy-stages.tsv")
    v1 = best[best.roi == "V1"].set_index("layer")["median_nna"].groupby(level=0).mean()
    assert v1["contrast_energy"] > v1["category_templates"]  # the planted hierarchy, vertex by vertex
    assert (tmp_path / "results/figures/best_layer-stages.png").is_file()
    assert set(read_table(tmp_path / "results/rsa/comparisons.tsv").distance) == {"crossnobis"}
    assert (tmp_path / "results/subj01/captions/image_scores.tsv").is_file()


@pytest.mark.slow
def test_the_algonauts_release_is_scored_and_submitted(tmp_path):
    """The surface mini-NSD exported in the Algonauts 2023 release's layout (test fMRI withheld, as during the
    challenge): a validation split, the challenge's score table and the submission files of every encoder."""
    from voxelflow.mininsd.algonauts_export import export_algonauts
    from voxelflow.mininsd.writer import MiniNSDConfig, write_mininsd

    small = {key: value for key, value in SMALL_MININSD.items() if key != "n_subjects"}
    write_mininsd(tmp_path / "mininsd", MiniNSDConfig(n_subjects=2, **small, surface=True))
    release = export_algonauts(tmp_path / "mininsd", tmp_path / "release", ["subj01", "subj02"], release_test=False)
    config = {**_shipped_config(), "dataset": "algonauts2023", "data_root": str(release), "decoders": {},
              "algonauts": {"validation": 0.25}}
    # (RSA needs 3 held-out images common to the subjects: here about 2 of the 10 shared training images)
    del config["encoders"]["in_context"], config["synthesis"], config["captions"], config["rsa"]
    config["encoders"]["transformer"].update(epochs=15)
    proc = _run(tmp_path / "run", config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = tmp_path / "run/results"
    scores = read_table(results / "algonauts2023/scores.tsv")
    # no test fMRI and no noise ceiling in this release: the score is "unavailable" (NaN), r is reported
    assert set(scores.held_out) == {"validation 0.25"} and scores.noise_ceiling.isna().all()
    assert scores.algonauts_score.isna().all()
    everything = scores[(scores.roi == "all vertices") & (scores.subject == "all subjects")].set_index("model")
    assert set(everything.index) == {f"{e}-{b}" for e in ("ridge", "transformer") for b in ("gabor", "stages")}
    per_roi = scores[scores.subject == "all subjects"].set_index(["model", "roi"]).mean_r
    # measured (2 subjects, about 12 validation images each, 38 to fit on): mean r of ridge-gabor V3 0.48, of
    # ridge-stages floc-bodies 0.31
    assert per_roi["ridge-gabor", "V3"] > 0.2 and per_roi["ridge-stages", "floc-bodies"] > 0.1
    for subject in ("subj01", "subj02"):
        n_test = len(list((release / subject / "test_split/test_images").glob("*.png")))
        lh = np.load(results / f"algonauts2023/ridge-stages/algonauts_2023_challenge_submission/{subject}/"
                               "lh_pred_test.npy")
        lh_vertices = np.load(release / subject / "roi_masks/lh.all-vertices_fsaverage_space.npy").sum()
        assert lh.dtype == np.float32 and lh.shape == (n_test, lh_vertices)
        assert (results / f"{subject}/figures/ridge-stages/surface_map.png").is_file()


@pytest.mark.slow
def test_a_study_table_runs_the_dag_and_matches_the_nsd_reader(tmp_path, mini_root):
    """The mini-NSD described by a study table (its own files, trials tables beside the table) through
    preprocessing, features, ridge, maps and RSA; the responses equal the NSD reader's of the same files."""
    from voxelflow.nsd_study import NSDStudy
    from voxelflow.preprocess import preprocess_subject
    from voxelflow.responses import read_responses
    from voxelflow.study_table import export_table

    table = export_table(mini_root, tmp_path / "study/study.yaml", ["subj01", "subj02"])
    config = {**_shipped_config(), "dataset": "table", "study_table": str(table), "subjects": ["subj01", "subj02"],
              "backbones": {"gabor": {"type": "gabor"}}, "decoders": {}}
    config["encoders"] = {"ridge": {**config["encoders"]["ridge"], "layers": []}}
    del config["synthesis"], config["captions"]
    proc = _run(tmp_path / "run", config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for subject in ("subj01", "subj02"):
        stored = read_responses(tmp_path / f"run/results/{subject}/responses.h5")
        direct = preprocess_subject(NSDStudy(mini_root).subject(subject))
        np.testing.assert_array_equal(stored.image_ids, direct.image_ids)
        np.testing.assert_allclose(stored.responses, direct.responses, atol=1e-6)
        summary = json.loads((tmp_path / f"run/results/{subject}/encoders/ridge/gabor/summary.json").read_text())
        assert summary["rois"]["V1"]["median_r"] > 0.3
        assert (tmp_path / f"run/results/{subject}/figures/ridge-gabor/accuracy_map.png").is_file()
    assert set(read_table(tmp_path / "run/results/rsa/comparisons.tsv").distance) == {"crossnobis"}

    # a surface study by table: per-hemisphere files (the surface mini-NSD's), vertex stores and surface maps
    from voxelflow.mininsd.writer import MiniNSDConfig, write_mininsd

    small = {key: value for key, value in SMALL_MININSD.items() if key != "n_subjects"}
    write_mininsd(tmp_path / "surface", MiniNSDConfig(n_subjects=1, **small, surface=True))
    table = export_table(tmp_path / "surface", tmp_path / "surface-study/study.yaml", ["subj01"], space="fsaverage")
    del config["rsa"]  # one subject
    proc = _run(tmp_path / "surface-run", {**config, "study_table": str(table), "subjects": ["subj01"]})
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = read_responses(tmp_path / "surface-run/results/subj01/responses.h5")
    assert stored.on_surface and stored.attrs["space"] == "fsaverage"
    assert (tmp_path / "surface-run/results/subj01/figures/ridge-gabor/surface_map.png").is_file()


@pytest.mark.slow
def test_nsd_mode_reads_an_nsd_copy_and_reports_bad_subjects(tmp_path, mini_root):
    config = {**_shipped_config(), "dataset": "nsd", "data_root": str(mini_root), "subjects": ["subj03"],
              "backbones": {"gabor": {"type": "gabor"}}}  # each backbone type: the next test
    config["preprocess"].update(sessions=5, keep_trials=True)
    del config["encoders"]["in_context"], config["rsa"]  # one subject: nothing to meta-train on or compare
    del config["captions"]  # (on the stages backbone, tested in the next test)
    config["encoders"]["ridge"]["layers"] = []
    config["decoders"] = {}  # decoders and synthesis are exercised by the demo run above
    del config["synthesis"]
    proc = _run(tmp_path / "ok", config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with h5py.File(tmp_path / "ok/results/subj03/responses.h5") as f:
        assert f.attrs["sessions"].tolist() == [1, 2, 3, 4, 5] and f.attrs["test_split"] == "shared"
        train = f["split"][()] == b"train"
        assert f["trials/responses"].shape[0] == len(f["trials/image_ids"]) == f["repeats"][()][train].sum()
        assert set(f["hemisphere"][()].astype(str)) == {"lh", "rh"}

    proc = _run(tmp_path / "bad", {**config, "subjects": ["subj07"]})
    assert proc.returncode != 0
    assert "subj07" in proc.stderr
    assert not (tmp_path / "bad/results/subj07").exists()


TINY_TIMM = {"depth": 2, "embed_dim": 32, "num_heads": 2, "img_size": 56}
TINY_HF = {"model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
           "intermediate_size": 64, "image_size": 56, "patch_size": 14}


@pytest.mark.slow
def test_every_backbone_type_runs_the_encoders_and_the_layer_sweep(tmp_path, mini_root):
    backbones = {"clip": {"type": "open_clip", "model": "vf-tiny-ViT", "layer": "all"},
                 "dino": {"type": "timm", "model": "vit_base_patch14_reg4_dinov2", "model_args": TINY_TIMM,
                          "layer": [0, -1], "tokens": {"grid": 2}},
                 "hf": {"type": "huggingface", "config": TINY_HF, "tokens": {"pca": 8}},
                 "resnet": {"type": "torchvision", "model": "resnet18", "layer": ["layer1", "layer4"],
                            "tokens": {"grid": 2}},
                 "gabor": {"type": "gabor"}, "stages": {"type": "mininsd_stages"}}
    config = {**_shipped_config(), "dataset": "nsd", "data_root": str(mini_root), "subjects": ["subj01"],
              "backbones": backbones, "decoders": {}}
    del config["rsa"]  # one subject
    config["encoders"] = {"ridge": {**config["encoders"]["ridge"], "layers": "all"},
                          "transformer": {**config["encoders"]["transformer"], "epochs": 2}}  # on reduced tokens too
    del config["synthesis"]
    targets = [f"results/subj01/encoders/{encoder}/{name}/summary.json" for name in backbones
               for encoder in ("ridge", "transformer")]
    targets += [f"results/figures/layer_hierarchy-{name}.png" for name in ("clip", "dino", "resnet", "stages")]
    targets.append("results/subj01/captions/words.tsv")  # the stand-in captioner reads this mini-NSD's truth
    proc = _run(tmp_path, config, *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for target in targets[:2 * len(backbones)]:
        assert np.isfinite(json.loads((tmp_path / target).read_text())["rois"]["V1"]["median_r"]), target
    with h5py.File(tmp_path / "results/features/dino/subj01.h5") as f:
        assert json.loads(f.attrs["layers"]) == ["blocks.0", "blocks.1"]
        assert f["layers/blocks.0"].shape[1:] == (1 + 4, 32)  # class token + a 2 x 2 grid of the 4 x 4 patches
    with h5py.File(tmp_path / "results/features/hf/subj01.h5") as f:
        assert f["tokens"].shape[1:] == (1 + 16, 8) and f["pca/blocks.1/components"].shape == (8, 32)
    table = read_table(tmp_path / "results/layer_hierarchy-stages.tsv").set_index(["roi", "layer"])["median_nna"]
    for early, category in [("V1", "floc-faces"), ("V2", "floc-places")]:  # the known answer, through the DAG
        assert table[early, "contrast_energy"] > table[early, "category_templates"]
        assert table[category, "category_templates"] > table[category, "contrast_energy"]
    words = read_table(tmp_path / "results/subj01/captions/words.tsv")
    assert words[words.roi == "floc-places"].iloc[0]["word"] == "place"
    report = tmp_path / "report.html"
    proc = _run(tmp_path, config, *targets, "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "layer_hierarchy-resnet.png" in report.read_text()
