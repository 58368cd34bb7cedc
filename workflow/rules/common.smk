# Config validation and the input functions every rule file shares.
from functools import cache
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from voxelflow.config_check import config_problem
from voxelflow.errors import InputError
from voxelflow.model_configs import validate_model_blocks
from voxelflow.nsd_layout import NSDLayout

CONFIG_SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
if problem := config_problem(config, CONFIG_SCHEMA):
    raise WorkflowError(problem)
validate(config, CONFIG_SCHEMA)  # fills in the schema's defaults

SUBJECTS = config["subjects"]
DATA_ROOT = config["data_root"]
NSD_TREES = ["nsddata", "nsddata_betas", "nsddata_stimuli"]
BACKBONES = list(config["backbones"])
ENCODERS = list(config["encoders"])
DECODERS = list(config["decoders"])
RECONSTRUCTION = config["decoders"].get("reconstruction", {})
# The reconstruction settings that only its scoring reads: editing them rescores, never regenerates.
RECONSTRUCTION_SCORING = ("protocols", "metric_networks")
# GPUs a torch job asks for (resources: gpu): none when the config keeps models on the CPU, so that CPU
# jobs run side by side instead of queueing for a GPU they never use.
GPUS_PER_JOB = 0 if config["device"] == "cpu" else 1


wildcard_constraints:
    subject="|".join(SUBJECTS),
    backbone="|".join(BACKBONES),
    encoder="|".join(ENCODERS),


def mininsd_outputs():
    """The folders and truth file the mini-NSD generator writes under data_root."""
    return {
        **{tree: f"{DATA_ROOT}/{tree}" for tree in NSD_TREES},
        "truth": f"{DATA_ROOT}/truth/planted.h5",
    }


@cache
def nsd_study():
    """The configured NSD copy, opened once (an InputError if data_root is not one)."""
    from voxelflow.nsd_study import NSDStudy

    pre = config["preprocess"]
    return NSDStudy(DATA_ROOT, pre["space"], pre["betas_version"], pre["betas_format"])


ALGONAUTS = config["dataset"] == "algonauts2023"
TABLE = config["dataset"] == "table"


@cache
def study_table():
    """The configured study table (dataset: table), opened once; a clear error without one."""
    from voxelflow.study_table import StudyTable

    if "study_table" not in config:
        raise WorkflowError("config.yaml: dataset: table needs study_table: the path of the study table (YAML)")
    try:
        return StudyTable(config["study_table"])
    except InputError as err:
        raise WorkflowError(f"config.yaml: study_table: {err}") from None


def study_inputs(wildcards):
    """What preprocessing reads: the generated mini-NSD, or every file of the subject's part of an NSD copy
    (NSDStudy.input_files) or of the Algonauts release, so that replacing any one of them reruns that subject's
    preprocessing."""
    if config["dataset"] == "demo":
        return mininsd_outputs()
    if ALGONAUTS:
        from voxelflow.algonauts import AlgonautsLayout

        return {"study": [str(p) for p in AlgonautsLayout(DATA_ROOT).input_files(wildcards.subject)]}
    if TABLE:
        return {"study": [str(p) for p in study_table().input_files(wildcards.subject)]}
    pre = config["preprocess"]
    others = tuple(SUBJECTS) if pre["test_split"] == "shared-common" else ()
    try:
        files = nsd_study().input_files(wildcards.subject, pre["mask_roi"], others)
    except InputError as err:
        raise WorkflowError(str(err)) from None
    return {"study": [str(path) for path in files]}


def design_input(wildcards):
    """Which images {subject} saw: the experiment design (the demo: the folder it is written in), or the
    Algonauts release's image folders of the subject."""
    if config["dataset"] == "demo":
        return mininsd_outputs()["nsddata"]
    if ALGONAUTS:
        from voxelflow.algonauts import AlgonautsLayout

        layout = AlgonautsLayout(DATA_ROOT)
        return [str(layout.images_dir(wildcards.subject, split)) for split in ("train", "test")]
    if TABLE:
        return [config["study_table"], *map(str, study_table().files(wildcards.subject, "trials"))]
    return str(NSDLayout(DATA_ROOT).expdesign)


def stimuli_input():
    """The stimulus brick, or for the demo the folder the generator writes it in."""
    if config["dataset"] == "demo":
        return mininsd_outputs()["nsddata_stimuli"]
    if ALGONAUTS:
        return DATA_ROOT  # the release's PNGs
    if TABLE:  # its brick, or the image files its trials tables name
        return str(study_table().images) if study_table().images else [config["study_table"],
                                                                       *map(str, study_table().image_files)]
    return str(NSDLayout(DATA_ROOT).stimuli)


ON_SURFACE = config["preprocess"]["space"] == "fsaverage" or ALGONAUTS or (TABLE and study_table().space == "fsaverage")
MAP_FIGURES = ("surface_map",) if ON_SURFACE else ("accuracy_map", "glass_brain")


def anatomy_input(wildcards):
    """The {subject}'s mean EPI (figure background), or the generator's output for the demo."""
    return subject_anatomy(wildcards.subject)


def subject_anatomy(subject):
    """What `subject`'s maps are drawn over, as a list: its mean EPI, the study's inflated fsaverage where it
    ships one (else none: nilearn's bundled fsaverage5), or the generator's output for the demo."""
    if config["dataset"] == "demo":
        return [mininsd_outputs()["nsddata"]]
    if ALGONAUTS:
        return []
    if TABLE:  # a volume's voxel mask is its background (a surface is drawn on nilearn's fsaverage5)
        return [] if ON_SURFACE else [str(p) for p in study_table().files(subject, "mask")]
    layout = NSDLayout(DATA_ROOT, config["preprocess"]["space"])
    if ON_SURFACE:
        return [str(p) for hemi in ("lh", "rh") for p in (layout.fsaverage_dir / f"surf/{hemi}.inflated",)
                if p.is_file()]
    return [str(layout.mean_epi(subject))]


def backbone_spec(wildcards):
    """The config entry of the {backbone} wildcard."""
    return config["backbones"][wildcards.backbone]


def layer_sweep_backbones():
    """The backbones of encoders.ridge.layers: named, or all (every backbone that stores more than one layer)."""
    chosen = config["encoders"].get("ridge", {}).get("layers", [])
    if "ridge" not in ENCODERS or not chosen:
        return []
    if chosen == "all":
        return [name for name, spec in config["backbones"].items() if spec["type"] == "mininsd_stages"
                or isinstance(spec.get("layer"), list) or spec.get("layer") == "all"]
    unknown = [name for name in chosen if name not in BACKBONES]
    if unknown:
        raise WorkflowError(f"config.yaml: encoders.ridge.layers names {unknown[0]!r}, which is not among backbones "
                            f"({', '.join(BACKBONES)})")
    return list(chosen)


def caption_inputs(wildcards):
    """Inputs of caption_voxels: the ridge encoder on captions.backbone, its scores, the responses and features,
    and the mini-NSD's truth for the stand-in captioner (captioner: categories)."""
    backbone = config["captions"]["backbone"]
    inputs = {
        "model": f"results/{wildcards.subject}/encoders/ridge/{backbone}/model.h5",
        "scores": f"results/{wildcards.subject}/encoders/ridge/{backbone}/scores.h5",
        "responses": f"results/{wildcards.subject}/responses.h5",
        "features": f"results/features/{backbone}/{wildcards.subject}.h5",
    }
    if config["captions"]["captioner"] == "categories":
        inputs["truth"] = mininsd_outputs()["truth"]
    return inputs


def is_mininsd():
    """True for the demo and for an NSD-layout copy of a mini-NSD (its planted truth beside it): the studies the
    mini-NSD's stand-ins (captioner, text-to-image) can serve."""
    return config["dataset"] == "demo" or Path(mininsd_outputs()["truth"]).is_file()


def unfitted_encoder(choice, key):
    """The error of a config `key` naming an encoder choice ({encoder, backbone}) this config does not fit, or
    None."""
    if choice["encoder"] not in ENCODERS or choice["backbone"] not in BACKBONES:
        return (f"config.yaml: {key} names {choice['encoder']} on {choice['backbone']}, but the config fits "
                f"{', '.join(ENCODERS)} on {', '.join(BACKBONES)}")
    return None


def check_captions():
    """captions: a ridge encoder on a configured backbone; the stand-in captioner only on the mini-NSD; the
    captioner folder exists."""
    captions = config.get("captions")
    if captions is None:
        return
    if "ridge" not in ENCODERS or captions["backbone"] not in BACKBONES:
        raise InputError(f"config.yaml: captions reads the ridge encoder on {captions['backbone']!r}, but the config "
                         f"fits {', '.join(ENCODERS)} on {', '.join(BACKBONES)}")
    if captions["captioner"] == "categories":
        if not is_mininsd():
            raise InputError(f"config.yaml: captions.captioner: categories is the mini-NSD's stand-in: it reads the "
                             f"planted image categories ({mininsd_outputs()['truth']}), which this study lacks; give "
                             f"a captioner folder")
    elif not Path(captions["captioner"]).is_dir():
        raise InputError(f"config.yaml: captions.captioner: {captions['captioner']} is not a folder (a causal LM "
                         "and its prefix map; weights are never downloaded)")
    for path in captions.get("extra_features", []):
        if not Path(path).is_file():
            raise InputError(f"config.yaml: captions.extra_features: {path} does not exist")
    synthesis = captions.get("synthesis")
    if synthesis is None:
        return
    if synthesis["generator"] == "mininsd_scenes":
        if not is_mininsd():
            raise InputError("config.yaml: captions.synthesis.generator: mininsd_scenes is the mini-NSD's stand-in "
                             "(it draws mini-NSD categories; this study is no mini-NSD); give a diffusers Stable "
                             "Diffusion folder")
    else:
        from voxelflow.synthesis.stable_diffusion import is_stable_diffusion_folder

        if not is_stable_diffusion_folder(synthesis["generator"]):
            raise InputError(f"config.yaml: captions.synthesis.generator: {synthesis['generator']} is not a diffusers "
                             f"Stable Diffusion folder (model_index.json naming unet, vae and text_encoder; weights "
                             f"are never downloaded)")
    validate_model = synthesis.get("validate")
    if validate_model and (problem := unfitted_encoder(validate_model, "captions.synthesis.validate")):
        raise InputError(problem)


def caption_synthesis_backbones(wildcards):
    """The backbone entries of the captioned ridge encoder and the validating encoder, by name."""
    names = [config["captions"]["backbone"], (config["captions"]["synthesis"].get("validate") or {}).get("backbone")]
    return {name: config["backbones"][name] for name in names if name}


def caption_synthesis_inputs(wildcards):
    """Inputs of synthesize_from_captions: the captions, the captioned ridge encoder and the validating one, the
    responses and natural test images, the generator folder, and the mini-NSD's truth (the true-brain scorer)."""
    settings = config["captions"]["synthesis"]
    subject = wildcards.subject
    inputs = {
        "captions": f"results/{subject}/captions/captions.tsv",
        "responses": f"results/{subject}/responses.h5",
        "stimuli": stimuli_input(),
        "captioned": f"results/{subject}/encoders/ridge/{config['captions']['backbone']}/model.h5",
    }
    if settings.get("validate"):
        inputs["validate"] = encoder_model_file(settings["validate"]).format(subject=subject)
    if settings["generator"] != "mininsd_scenes":
        inputs["generator"] = settings["generator"]
    if config["dataset"] == "demo":
        inputs["truth"] = mininsd_outputs()["truth"]
    return inputs


def encoder_summaries():
    """Summary JSON of every (subject, encoder, backbone)."""
    return expand("results/{subject}/encoders/{encoder}/{backbone}/summary.json",
                  subject=SUBJECTS, encoder=ENCODERS, backbone=BACKBONES)


def final_outputs():
    """Every target of `snakemake` with no arguments."""
    figures = [*MAP_FIGURES, "r_vs_noise_ceiling", "predicted_vs_measured"]
    outputs = [
        *expand("results/{subject}/responses.h5", subject=SUBJECTS),
        *encoder_summaries(),
        "results/figures/encoding_roi_bars.png",
        *expand("results/{subject}/figures/{encoder}-{backbone}/{figure}.png", subject=SUBJECTS,
                encoder=ENCODERS, backbone=BACKBONES, figure=figures),
    ]
    if "in_context" in ENCODERS:
        in_context = f"results/{{subject}}/figures/in_context-{{backbone}}"
        outputs += expand(f"{in_context}/few_shot.png", subject=SUBJECTS, backbone=BACKBONES)
        outputs += expand(f"{in_context}/context_attention.png", subject=SUBJECTS, backbone=BACKBONES)
        outputs += expand(f"{in_context}/text_selectivity.png", subject=SUBJECTS, backbone=open_clip_backbones())
    outputs += expand("results/figures/layer_hierarchy-{backbone}.png", backbone=layer_sweep_backbones())
    if "rsa" in config:
        outputs += ["results/figures/rsa_models.png", "results/figures/rsa_identification.png"]
    if "captions" in config:
        outputs += expand("results/{subject}/figures/caption_words.png", subject=SUBJECTS)
        if "synthesis" in config["captions"]:
            outputs += expand("results/{subject}/figures/caption_images.png", subject=SUBJECTS)
    if DECODERS:
        outputs.append("results/figures/decoding_metrics.png")
    if few_data_subjects():
        outputs.append("results/figures/few_data.png")
    if "reconstruction" in DECODERS:
        outputs += expand("results/{subject}/figures/decoders/reconstructions.png", subject=SUBJECTS)
    if SYNTHESIS:
        outputs += expand("results/{subject}/synthesis/scores.tsv", subject=SUBJECTS)
        outputs += expand("results/{subject}/figures/synthesis/{target}.png", subject=SUBJECTS,
                          target=synthesis_targets())
    if ALGONAUTS:
        outputs.append("results/algonauts2023/scores.tsv")
        outputs += expand("results/algonauts2023/{encoder}-{backbone}/algonauts_2023_challenge_submission/{subject}/"
                          "{hemi}_pred_test.npy", encoder=ENCODERS, backbone=BACKBONES, subject=SUBJECTS,
                          hemi=("lh", "rh"))
    if "transformer" in ENCODERS:
        outputs += expand("results/{subject}/figures/transformer-{backbone}/routing.png", subject=SUBJECTS,
                          backbone=BACKBONES)
        if "ridge" in ENCODERS:
            outputs += expand("results/{subject}/figures/transformer-vs-ridge-{backbone}.png", subject=SUBJECTS,
                              backbone=BACKBONES)
    return outputs


def training_set_name(chosen, subject):
    """The training set of other subjects that serves `subject`: without-<subject> (chosen: loso) or fixed (a list)."""
    return f"without-{subject}" if chosen == "loso" else "fixed"


def training_set_subjects(chosen, training_set, key):
    """The subjects of a training set (chosen: loso or a list, from config key `key`); a clear error if there are
    none."""
    if training_set == "fixed":
        unknown = sorted(set(chosen) - set(SUBJECTS))
        if unknown:
            raise WorkflowError(f"config.yaml: {key} names {', '.join(unknown)}, not among subjects "
                                f"({', '.join(SUBJECTS)})")
        return list(chosen)
    held_out = training_set.removeprefix("without-")
    others = [s for s in SUBJECTS if s != held_out]
    if not others:
        raise WorkflowError(f"config.yaml: {key}: loso needs at least two subjects; {held_out} has no other subject "
                            f"to train on")
    return others


def in_context_training_set(subject):
    """Name of the meta-training set whose network serves `subject`."""
    return training_set_name(config["encoders"]["in_context"]["train_subjects"], subject)


def in_context_training_subjects(training_set):
    """The subjects a meta-training set is made of."""
    return training_set_subjects(config["encoders"]["in_context"]["train_subjects"], training_set,
                                 "encoders.in_context.train_subjects")


def in_context_network(wildcards):
    """The meta-trained network that `{subject}`'s in-context voxel models come from."""
    return in_context_network_path(wildcards.backbone, wildcards.subject)


def in_context_network_path(backbone, subject):
    """The meta-trained network on `backbone` that serves `subject`."""
    return f"results/in_context/{backbone}/{in_context_training_set(subject)}/network.pt"


def open_clip_backbones():
    """Backbones with a text tower (text-to-voxel selectivity)."""
    return [name for name, spec in config["backbones"].items() if spec["type"] == "open_clip"]


def decoder_target(wildcards=None):
    """The backbone whose embedding space the decoders map voxels into; a clear error for a bad config."""
    if "contrastive" not in DECODERS:
        raise WorkflowError("config.yaml: decoders.reconstruction needs decoders.contrastive (its brain embeddings "
                            "are what the prior reads)")
    target = config["decoders"]["contrastive"]["target"]
    if target not in BACKBONES:
        raise WorkflowError(f"config.yaml: decoders.contrastive.target {target!r} is not among backbones "
                            f"({', '.join(BACKBONES)})")
    return target


CONTRASTIVE = config["decoders"].get("contrastive", {})
SHARED_DECODER = CONTRASTIVE.get("shared")  # MindEye2's shared-subject model: None = every decoder from scratch
# Contrastive settings that the decoders' training never reads (retrieval scoring, the shared model's options,
# the few-data curve): editing them reruns only the jobs that do.
CONTRASTIVE_SCORING = ("n_candidates", "n_draws")
CONTRASTIVE_OTHERS = ("shared", "new_subject_sessions", *CONTRASTIVE_SCORING)


def contrastive_training_settings():
    """The decoders.contrastive settings that train a decoder (model, losses, target, train_on)."""
    return {key: value for key, value in CONTRASTIVE.items() if key not in CONTRASTIVE_OTHERS}


def shared_training_set(subject):
    """The pretraining set whose shared decoder starts `subject`'s: without-<subject> (loso) or fixed."""
    return training_set_name(SHARED_DECODER["pretrain"], subject)


def shared_decoder_subjects(training_set):
    """The subjects a shared decoder is pretrained on."""
    return training_set_subjects(SHARED_DECODER["pretrain"], training_set, "decoders.contrastive.shared.pretrain")


def shared_decoder(subject):
    """The pretrained shared decoder that starts `subject`'s decoder."""
    return f"results/decoders/contrastive/{shared_training_set(subject)}/model.pt"


def few_data_subjects():
    """Subjects that no shared decoder was pretrained on: they get few-data curves."""
    if SHARED_DECODER is None:
        return []
    return [s for s in SUBJECTS if SHARED_DECODER["pretrain"] == "loso" or s not in SHARED_DECODER["pretrain"]]


def contrastive_inputs(wildcards):
    """Inputs of fit_contrastive for {subject}, its responses and target embeddings, and the shared decoder
    that starts it when decoders.contrastive.shared is set."""
    inputs = {"responses": f"results/{wildcards.subject}/responses.h5",
              "features": f"results/features/{decoder_target()}/{wildcards.subject}.h5"}
    if SHARED_DECODER is not None:
        inputs["shared"] = shared_decoder(wildcards.subject)
    return inputs


def few_data_encoder_inputs(wildcards):
    """Inputs of few_data_encoders for {subject}, responses, the decoders' target features (one backbone for
    both curves), and the in-context network when it was meta-trained without {subject}."""
    inputs = {"responses": f"results/{wildcards.subject}/responses.h5",
              "features": f"results/features/{decoder_target()}/{wildcards.subject}.h5"}
    if "in_context" in ENCODERS:
        training_set = in_context_training_set(wildcards.subject)
        if wildcards.subject not in in_context_training_subjects(training_set):
            inputs["network"] = in_context_network_path(decoder_target(), wildcards.subject)
    return inputs


def check_shared_decoder():
    """decoders.contrastive.shared: its subjects exist, and session subsets have the single trials they need."""
    if SHARED_DECODER is None:
        return
    if SHARED_DECODER["pretrain"] != "loso":
        training_set_subjects(SHARED_DECODER["pretrain"], "fixed", "decoders.contrastive.shared.pretrain")
    unknown = sorted(set(SHARED_DECODER["sessions"]) - set(SUBJECTS))
    if unknown:
        raise InputError(f"config.yaml: decoders.contrastive.shared.sessions names {', '.join(unknown)}, not among "
                         f"subjects ({', '.join(SUBJECTS)})")
    subsets = [n for n in [*SHARED_DECODER["sessions"].values(), *CONTRASTIVE["new_subject_sessions"]] if n != "all"]
    if subsets and not config["preprocess"]["keep_trials"]:
        raise InputError("config.yaml: decoders.contrastive.shared.sessions and new_subject_sessions train on a "
                         "subject's first sessions, which needs its single trials: set preprocess.keep_trials: true")


def generator_input():
    """The generator folder: trained by the DAG (generator: train) or given by path."""
    generator = config["decoders"]["reconstruction"]["generator"]
    return f"results/generator/{decoder_target()}" if generator == "train" else generator


def reconstruction_inputs(wildcards):
    """Everything rule reconstruct reads for {subject}."""
    inputs = {
        "responses": f"results/{wildcards.subject}/responses.h5",
        "decoder": f"results/{wildcards.subject}/decoders/contrastive/model.pt",
        "prior": f"results/{wildcards.subject}/decoders/reconstruction/prior.pt",
        "generator": generator_input(),
        "features": f"results/features/{decoder_target()}/{wildcards.subject}.h5",
        "stimuli": stimuli_input(),
    }
    if config["decoders"]["reconstruction"]["low_level_size"] > 0:
        inputs["low_level"] = f"results/{wildcards.subject}/decoders/reconstruction/low_level.h5"
    return inputs


SYNTHESIS = config.get("synthesis")
# The synthesis settings that sampling reads (the rest, n_natural, only the grid and the scoring read).
SYNTHESIS_SAMPLING = ("generator", "guide", "scale", "steps", "every", "through_denoiser", "gradient_checkpointing",
                      "seed", "batch_size", "n_images")


def study_roi_tables():
    """The ROI label tables names resolve against: the mini-NSD's, or the first subject's in an NSD copy."""
    if config["dataset"] == "demo":
        from voxelflow.mininsd.anatomy import ROI_LABELS

        return {family: dict(enumerate(labels, start=1)) for family, labels in ROI_LABELS.items()}
    if ALGONAUTS:
        from voxelflow.algonauts import AlgonautsLayout, roi_tables

        return roi_tables(AlgonautsLayout(DATA_ROOT), SUBJECTS[0])
    if TABLE:
        return study_table().roi_tables(SUBJECTS[0])
    return nsd_study().roi_tables(SUBJECTS[0])


def check_roi_names():
    """Every ROI name of rois:, the synthesis targets and the transformer partition resolves, before any job."""
    from voxelflow.atlases.roi_masks import check_roi_names as check, target_roi_names

    names = {name: "rois" for name in config["rois"]}
    for target, spec in (SYNTHESIS or {}).get("targets", {}).items():
        if isinstance(spec, str):
            names.update({n: f"synthesis.targets.{target}" for side in target_roi_names(spec) for n in side})
    tables = study_roi_tables()
    partition = config["encoders"].get("transformer", {}).get("partition")
    if partition is not None and partition not in tables:
        raise InputError(f"config.yaml: encoders.transformer.partition: {partition!r} is not an ROI family; "
                         f"families: {', '.join(tables)}")
    check(tables, names)


def check_config_paths():
    """Every weights file or folder the config names exists, before any job (weights are never downloaded)."""
    paths = {f"backbones.{name}.{key}": spec.get(key) for name, spec in config["backbones"].items()
             for key in ("pretrained", "path")}
    reconstruction = config["decoders"].get("reconstruction", {})
    if reconstruction.get("generator", "train") != "train":
        paths["decoders.reconstruction.generator"] = reconstruction["generator"]
    for name, weights in reconstruction.get("metric_networks", {}).items():
        paths[f"decoders.reconstruction.metric_networks.{name}"] = weights
    if SYNTHESIS and SYNTHESIS.get("generator", "decoders") != "decoders":
        paths["synthesis.generator"] = SYNTHESIS["generator"]
    for key, path in paths.items():
        if path is not None and not Path(path).exists():
            raise InputError(f"config.yaml: {key}: {path} does not exist (weights are read from local paths, never "
                             f"downloaded)")


def check_algonauts():
    """data_root is an Algonauts 2023 release holding every listed subject; nothing asks for single trials."""
    from voxelflow.algonauts import AlgonautsLayout

    held = AlgonautsLayout(DATA_ROOT).subjects()
    for subject in SUBJECTS:
        if subject not in held:
            raise InputError(f"config.yaml: subjects: {subject} is not in the Algonauts 2023 release at {DATA_ROOT} "
                             f"(it holds {', '.join(held) or 'no subjXX/training_split folders'})")
    contrastive = config["decoders"].get("contrastive", {})
    sessions = [*(contrastive.get("shared") or {}).get("sessions", {}).values(),
                *contrastive.get("new_subject_sessions", [])]
    if contrastive.get("train_on") == "trials" or any(n != "all" for n in sessions):
        raise InputError("config.yaml: the Algonauts 2023 release holds repeat averages, not single trials or "
                         "sessions: decoders.contrastive.train_on: trials, shared.sessions and new_subject_sessions "
                         "other than 'all' cannot be had from it")
    if config.get("rsa", {}).get("distance") == "crossnobis":
        raise InputError("config.yaml: rsa.distance: crossnobis needs single trials, which the Algonauts 2023 "
                         "release does not hold; use correlation")


def check_demo_subjects():
    """Every listed subject is one the mini-NSD writes (subj01 .. mininsd.n_subjects)."""
    from voxelflow.nsd_layout import subject_number

    n_subjects = config["mininsd"]["n_subjects"]
    for subject in SUBJECTS:
        if subject_number(subject) > n_subjects:
            raise InputError(f"config.yaml: subjects: {subject} is not in the mini-NSD, which holds subj01 .. "
                             f"subj{n_subjects:02d} (mininsd.n_subjects: {n_subjects})")


try:
    if config["dataset"] == "demo":
        check_demo_subjects()
    elif ALGONAUTS:
        check_algonauts()
    elif TABLE:
        for subject in SUBJECTS:
            study_table().entry(subject)
    else:
        for subject in SUBJECTS:
            nsd_study().check_subject(subject)
    validate_model_blocks(config)
    check_roi_names()
    check_config_paths()
    check_shared_decoder()
    check_captions()
except InputError as err:
    raise WorkflowError(str(err)) from None

if config["dataset"] == "demo" and ON_SURFACE and not config["mininsd"].get("surface"):
    raise WorkflowError("config.yaml: preprocess.space: fsaverage on the demo needs mininsd.surface: true (the "
                        "mini-NSD writes its fsaverage layout only then)")
if "rsa" in config and len(SUBJECTS) < 2:
    raise WorkflowError(f"config.yaml: rsa needs 2 or more subjects (noise ceilings and identification compare "
                        f"subjects), but subjects lists {', '.join(SUBJECTS)}; delete the rsa block or add a subject")
if config.get("rsa", {}).get("distance") == "crossnobis" and not config["preprocess"]["keep_trials"] \
        and not ALGONAUTS:
    raise WorkflowError("config.yaml: rsa.distance: crossnobis needs preprocess.keep_trials: true (the test images' "
                        "single trials are kept in responses.h5 only then); or rsa.distance: correlation")
if config["decoders"].get("contrastive", {}).get("train_on") == "trials" and not config["preprocess"]["keep_trials"]:
    raise WorkflowError("config.yaml: decoders.contrastive.train_on: trials needs preprocess.keep_trials: true (the "
                        "single trials are kept in responses.h5 only then)")


def synthesis_targets():
    """The configured target names, plus "unguided" (the same seeds without guidance)."""
    return [*SYNTHESIS["targets"], "unguided"] if SYNTHESIS else []


def synthesis_model(role):
    """The fitted model file of the synthesis encoder in `role` (guide or validate), as a {subject} pattern; a
    clear error when that encoder is not fitted by this config or guide and validate are the same model."""
    choice = SYNTHESIS[role]
    if problem := unfitted_encoder(choice, f"synthesis.{role}"):
        raise WorkflowError(problem)
    if SYNTHESIS["guide"] == SYNTHESIS["validate"]:
        raise WorkflowError("config.yaml: synthesis.validate must differ from synthesis.guide (another encoder type or "
                            "backbone): scoring images with the encoder that guided them cannot tell success from "
                            "fooling it")
    return encoder_model_file(choice)


def encoder_model_file(choice):
    """The fitted model file of an encoder choice ({encoder, backbone}) as a {subject} pattern."""
    suffix = "pt" if choice["encoder"] == "transformer" else "h5"
    return f"results/{{subject}}/encoders/{choice['encoder']}/{choice['backbone']}/model.{suffix}"


def synthesis_generator():
    """The generator folder synthesis samples: the decoders' (synthesis.generator: decoders) or a path."""
    generator = SYNTHESIS["generator"]
    if generator != "decoders":
        return generator
    if "reconstruction" not in DECODERS:
        raise WorkflowError("config.yaml: synthesis.generator: decoders needs decoders.reconstruction (its generator); "
                            "or give the path of a generator folder")
    return generator_input()


def synthesis_inputs(wildcards):
    """Everything rule score_synthesis reads for {subject}."""
    inputs = {
        "images": expand("results/{subject}/synthesis/{target}.h5", subject=wildcards.subject,
                         target=list(SYNTHESIS["targets"])),
        "unguided": f"results/{wildcards.subject}/synthesis/unguided.h5",
        "responses": f"results/{wildcards.subject}/responses.h5",
        "guide": synthesis_model("guide").format(subject=wildcards.subject),
        "validate": synthesis_model("validate").format(subject=wildcards.subject),
        "stimuli": stimuli_input(),
    }
    if config["dataset"] == "demo":
        inputs["truth"] = mininsd_outputs()["truth"]
    return inputs
