# Responses -> image embeddings (retrieval) -> reconstructions, scored by the field's metrics.


rule pretrain_shared_decoder:
    input:
        responses=lambda wc: expand("results/{subject}/responses.h5", subject=shared_decoder_subjects(wc.training_set)),
        features=lambda wc: expand("results/features/{backbone}/{subject}.h5", backbone=decoder_target(),
                                   subject=shared_decoder_subjects(wc.training_set)),
    output:
        model="results/decoders/contrastive/{training_set}/model.pt",
    params:
        contrastive=contrastive_training_settings(),
        epochs=lambda wc: SHARED_DECODER.get("epochs"),
        subjects=lambda wc: shared_decoder_subjects(wc.training_set),
        device=config["device"],
    log:
        "logs/decoders/contrastive-{training_set}.log",
    benchmark:
        "logs/benchmarks/decoders/contrastive-{training_set}.tsv"
    wildcard_constraints:
        training_set="fixed|without-.+",
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("pretrain_shared_decoder"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/pretrain_shared_decoder.py"


rule fit_contrastive:
    input:
        unpack(contrastive_inputs),
    output:
        model="results/{subject}/decoders/contrastive/model.pt",
        retrieval="results/{subject}/decoders/contrastive/retrieval.json",
    params:
        contrastive=contrastive_training_settings(),
        retrieval={key: CONTRASTIVE.get(key) for key in CONTRASTIVE_SCORING},
        start=lambda wc: (None if SHARED_DECODER is None else
                          {"fine_tune": SHARED_DECODER["fine_tune"], "adapter_init": SHARED_DECODER["adapter_init"],
                           "sessions": SHARED_DECODER["sessions"].get(wc.subject, "all")}),
        device=config["device"],
    log:
        "logs/{subject}/decoders/contrastive.log",
    benchmark:
        "logs/benchmarks/{subject}/decoders/contrastive.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("fit_contrastive"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/fit_contrastive.py"


rule few_data_decoders:
    input:
        responses="results/{subject}/responses.h5",
        features=lambda wc: f"results/features/{decoder_target()}/{wc.subject}.h5",
        shared=lambda wc: shared_decoder(wc.subject),
    output:
        table="results/{subject}/few_data/decoders.tsv",
    params:
        contrastive=contrastive_training_settings(),
        retrieval={key: CONTRASTIVE.get(key) for key in CONTRASTIVE_SCORING},
        start=lambda wc: {key: SHARED_DECODER[key] for key in ("fine_tune", "adapter_init")},
        sessions=CONTRASTIVE.get("new_subject_sessions"),
        device=config["device"],
    log:
        "logs/{subject}/few_data/decoders.log",
    benchmark:
        "logs/benchmarks/{subject}/few_data/decoders.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("few_data_decoders"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/few_data_decoders.py"


rule few_data_encoders:
    input:
        unpack(few_data_encoder_inputs),
    output:
        table="results/{subject}/few_data/encoders.tsv",
    params:
        sessions=CONTRASTIVE.get("new_subject_sessions"),
        ridge=config["encoders"].get("ridge", {}),
        rois=config["rois"],
        device=config["device"],
    log:
        "logs/{subject}/few_data/encoders.log",
    benchmark:
        "logs/benchmarks/{subject}/few_data/encoders.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("few_data_encoders"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/few_data_encoders.py"


rule few_data_summary:
    input:
        tables=lambda wc: expand("results/{subject}/few_data/{models}.tsv", subject=few_data_subjects(),
                                 models=["encoders", "decoders"]),
    output:
        table="results/few_data.tsv",
        figure=report(
            "results/figures/few_data.png",
            caption="../report/few_data.rst",
            category="Decoding",
            subcategory="All subjects",
            labels={"figure": "few-data curves"},
        ),
    params:
        subjects=few_data_subjects(),
        target=lambda wc: decoder_target(),
    log:
        "logs/figures/few_data.log",
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_few_data.py"


rule fit_prior:
    input:
        decoder="results/{subject}/decoders/contrastive/model.pt",
        responses="results/{subject}/responses.h5",
        features=lambda wc: f"results/features/{decoder_target()}/{wc.subject}.h5",
    output:
        prior="results/{subject}/decoders/reconstruction/prior.pt",
    params:
        prior=config["decoders"].get("reconstruction", {}).get("prior", {}),
        tokens=config["decoders"].get("contrastive", {}).get("tokens", False),
        device=config["device"],
    log:
        "logs/{subject}/decoders/prior.log",
    benchmark:
        "logs/benchmarks/{subject}/decoders/prior.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("fit_prior"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/fit_prior.py"


rule fit_low_level:
    input:
        responses="results/{subject}/responses.h5",
        stimuli=stimuli_input(),
    output:
        model="results/{subject}/decoders/reconstruction/low_level.h5",
    params:
        size=config["decoders"].get("reconstruction", {}).get("low_level_size", 16),
        device=config["device"],
    log:
        "logs/{subject}/decoders/low_level.log",
    benchmark:
        "logs/benchmarks/{subject}/decoders/low_level.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("fit_low_level"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/fit_low_level.py"


rule train_generator:
    input:
        responses=expand("results/{subject}/responses.h5", subject=SUBJECTS),
        features=expand("results/features/{{backbone}}/{subject}.h5", subject=SUBJECTS),
        stimuli=stimuli_input(),
    output:
        generator=directory("results/generator/{backbone}"),
    params:
        train=config["decoders"].get("reconstruction", {}).get("train_generator", {}),
        tokens=config["decoders"].get("contrastive", {}).get("tokens", False),
        device=config["device"],
    log:
        "logs/generator/{backbone}.log",
    benchmark:
        "logs/benchmarks/generator/{backbone}.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("train_generator"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/train_generator.py"


rule reconstruct:
    input:
        unpack(reconstruction_inputs),
    output:
        images="results/{subject}/decoders/reconstruction/reconstructions.h5",
        grid=report(
            "results/{subject}/figures/decoders/reconstructions.png",
            caption="../report/reconstructions.rst",
            category="Decoding",
            subcategory="{subject}",
            labels={"figure": "reconstructions"},
        ),
    params:
        reconstruction={key: value for key, value in RECONSTRUCTION.items() if key not in RECONSTRUCTION_SCORING},
        target=decoder_target,
        target_spec=lambda wc: config["backbones"][decoder_target()],
        tokens=config["decoders"].get("contrastive", {}).get("tokens", False),
        device=config["device"],
    log:
        "logs/{subject}/decoders/reconstruct.log",
    benchmark:
        "logs/benchmarks/{subject}/decoders/reconstruct.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("reconstruct"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/reconstruct.py"


rule score_reconstructions:
    input:
        images="results/{subject}/decoders/reconstruction/reconstructions.h5",
        stimuli=stimuli_input(),
    output:
        metrics="results/{subject}/decoders/reconstruction/metrics.tsv",
        table=report(
            "results/{subject}/figures/decoders/metrics.png",
            caption="../report/decoding_metrics.rst",
            category="Decoding",
            subcategory="{subject}",
            labels={"figure": "metrics table"},
        ),
    params:
        reconstruction={key: value for key, value in RECONSTRUCTION.items() if key in RECONSTRUCTION_SCORING},
        target=decoder_target,
        target_spec=lambda wc: config["backbones"][decoder_target()],
        device=config["device"],
    log:
        "logs/{subject}/decoders/score_reconstructions.log",
    benchmark:
        "logs/benchmarks/{subject}/decoders/score_reconstructions.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("score_reconstructions"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/score_reconstructions.py"


rule decoding_summary:
    input:
        retrieval=expand("results/{subject}/decoders/contrastive/retrieval.json", subject=SUBJECTS),
        metrics=lambda wc: (expand("results/{subject}/decoders/reconstruction/metrics.tsv", subject=SUBJECTS)
                            if "reconstruction" in DECODERS else []),
    output:
        table="results/decoding_metrics.tsv",
        figure=report(
            "results/figures/decoding_metrics.png",
            caption="../report/decoding_summary.rst",
            category="Decoding",
            subcategory="All subjects",
        ),
    params:
        protocols=RECONSTRUCTION.get("protocols", ["voxelflow", "mindeye2"]),
        samples=RECONSTRUCTION.get("samples", 1),
    log:
        "logs/figures/decoding_summary.log",
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_decoding_summary.py"
