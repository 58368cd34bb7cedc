# Features + responses -> fitted encoders, test scores and per-ROI summaries.


rule fit_ridge:
    input:
        responses="results/{subject}/responses.h5",
        features="results/features/{backbone}/{subject}.h5",
    output:
        model="results/{subject}/encoders/ridge/{backbone}/model.h5",
        scores="results/{subject}/encoders/ridge/{backbone}/scores.h5",
    params:
        ridge=config["encoders"].get("ridge", {}),
        device=config["device"],
    log:
        "logs/{subject}/encoders/ridge-{backbone}.log",
    benchmark:
        "logs/benchmarks/{subject}/encoders/ridge-{backbone}.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("fit_ridge"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/fit_ridge.py"


rule sweep_ridge_layers:
    input:
        responses="results/{subject}/responses.h5",
        features="results/features/{backbone}/{subject}.h5",
    output:
        scores="results/{subject}/encoders/ridge/{backbone}/layers.h5",
    params:
        ridge=config["encoders"].get("ridge", {}),
        device=config["device"],
    log:
        "logs/{subject}/encoders/ridge-layers-{backbone}.log",
    benchmark:
        "logs/benchmarks/{subject}/encoders/ridge-layers-{backbone}.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("sweep_ridge_layers"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/sweep_ridge_layers.py"


rule fit_transformer:
    input:
        responses="results/{subject}/responses.h5",
        features="results/features/{backbone}/{subject}.h5",
    output:
        model="results/{subject}/encoders/transformer/{backbone}/model.pt",
        scores="results/{subject}/encoders/transformer/{backbone}/scores.h5",
    params:
        transformer=config["encoders"].get("transformer", {}),
        device=config["device"],
    log:
        "logs/{subject}/encoders/transformer-{backbone}.log",
    benchmark:
        "logs/benchmarks/{subject}/encoders/transformer-{backbone}.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("fit_transformer"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/fit_transformer.py"


rule summarize_encoder:
    input:
        responses="results/{subject}/responses.h5",
        scores="results/{subject}/encoders/{encoder}/{backbone}/scores.h5",
    output:
        summary="results/{subject}/encoders/{encoder}/{backbone}/summary.json",
    params:
        rois=config["rois"],
    log:
        "logs/{subject}/encoders/{encoder}-{backbone}-summary.log",
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/summarize_encoder.py"


rule meta_train_in_context:
    input:
        responses=lambda wc: expand("results/{subject}/responses.h5",
                                    subject=in_context_training_subjects(wc.training_set)),
        features=lambda wc: expand("results/features/{backbone}/{subject}.h5", backbone=wc.backbone,
                                   subject=in_context_training_subjects(wc.training_set)),
    output:
        network="results/in_context/{backbone}/{training_set}/network.pt",
    params:
        in_context=config["encoders"].get("in_context", {}),
        subjects=lambda wc: in_context_training_subjects(wc.training_set),
        device=config["device"],
    log:
        "logs/in_context/{backbone}-{training_set}.log",
    benchmark:
        "logs/benchmarks/in_context/{backbone}-{training_set}.tsv"
    wildcard_constraints:
        training_set="fixed|without-.+",
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("meta_train_in_context"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/meta_train_in_context.py"


rule fit_in_context:
    input:
        network=in_context_network,
        responses="results/{subject}/responses.h5",
        features="results/features/{backbone}/{subject}.h5",
    output:
        model="results/{subject}/encoders/in_context/{backbone}/model.h5",
        scores="results/{subject}/encoders/in_context/{backbone}/scores.h5",
    params:
        in_context=config["encoders"].get("in_context", {}),
        device=config["device"],
    log:
        "logs/{subject}/encoders/in_context-{backbone}.log",
    benchmark:
        "logs/benchmarks/{subject}/encoders/in_context-{backbone}.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("fit_in_context"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/fit_in_context.py"


rule few_shot_curve:
    input:
        network=in_context_network,
        responses="results/{subject}/responses.h5",
        features="results/features/{backbone}/{subject}.h5",
    output:
        table="results/{subject}/encoders/in_context/{backbone}/few_shot.tsv",
        figure=report(
            "results/{subject}/figures/in_context-{backbone}/few_shot.png",
            caption="../report/few_shot.rst",
            category="In-context encoder",
            subcategory="{subject}",
            labels={"figure": "few-shot curve", "model": "in_context-{backbone}"},
        ),
    params:
        in_context=config["encoders"].get("in_context", {}),
        ridge=config["encoders"].get("ridge", {}),
        rois=config["rois"],
        device=config["device"],
    log:
        "logs/{subject}/encoders/few_shot-{backbone}.log",
    benchmark:
        "logs/benchmarks/{subject}/encoders/few_shot-{backbone}.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("few_shot_curve"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/few_shot_curve.py"


rule context_attention:
    input:
        network=in_context_network,
        responses="results/{subject}/responses.h5",
        features="results/features/{backbone}/{subject}.h5",
        scores="results/{subject}/encoders/in_context/{backbone}/scores.h5",
        stimuli=stimuli_input(),
    output:
        report(
            "results/{subject}/figures/in_context-{backbone}/context_attention.png",
            caption="../report/context_attention.rst",
            category="In-context encoder",
            subcategory="{subject}",
            labels={"figure": "context attention", "model": "in_context-{backbone}"},
        ),
    params:
        rois=config["rois"],
    log:
        "logs/{subject}/figures/context_attention-{backbone}.log",
    benchmark:
        "logs/benchmarks/{subject}/figures/context_attention-{backbone}.tsv"
    threads: 1
    resources:
        **job_size("context_attention"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_context_attention.py"


rule text_selectivity:
    input:
        model="results/{subject}/encoders/in_context/{backbone}/model.h5",
        responses="results/{subject}/responses.h5",
    output:
        table="results/{subject}/encoders/in_context/{backbone}/text_selectivity.tsv",
        figure=report(
            "results/{subject}/figures/in_context-{backbone}/text_selectivity.png",
            caption="../report/text_selectivity.rst",
            category="In-context encoder",
            subcategory="{subject}",
            labels={"figure": "text-to-voxel selectivity", "model": "in_context-{backbone}"},
        ),
    params:
        backbone=backbone_spec,
        prompts=config["encoders"].get("in_context", {}).get("prompts", []),
        rois=config["rois"],
    log:
        "logs/{subject}/encoders/text_selectivity-{backbone}.log",
    benchmark:
        "logs/benchmarks/{subject}/encoders/text_selectivity-{backbone}.tsv"
    threads: 1
    resources:
        **job_size("text_selectivity"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/text_selectivity.py"


rule caption_voxels:
    input:
        unpack(caption_inputs),
    output:
        captions="results/{subject}/captions/captions.tsv",
        words="results/{subject}/captions/words.tsv",
        figure=report(
            "results/{subject}/figures/caption_words.png",
            caption="../report/caption_words.rst",
            category="Encoding",
            subcategory="{subject}",
            labels={"figure": "voxel captions (BrainSCUBA)"},
        ),
    params:
        # the captioning settings alone: editing captions.synthesis redraws the images, not the captions
        captions={key: value for key, value in config.get("captions", {}).items() if key != "synthesis"},
        device=config["device"],
    log:
        "logs/{subject}/captions.log",
    benchmark:
        "logs/benchmarks/{subject}/captions.tsv"
    resources:
        **job_size("caption_voxels"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/caption_voxels.py"


# BrainSCUBA's last step: images prompted by the captions, scored as BrainDiVE's images are
rule synthesize_from_captions:
    input:
        unpack(caption_synthesis_inputs),
    output:
        images="results/{subject}/captions/images.h5",
        scores="results/{subject}/captions/image_scores.tsv",
        grid=report(
            "results/{subject}/figures/caption_images.png",
            caption="../report/caption_images.rst",
            category="Synthesis",
            subcategory="{subject}",
            labels={"figure": "images from voxel captions"},
        ),
        responses_figure=report(
            "results/{subject}/figures/caption_image_responses.png",
            caption="../report/caption_image_responses.rst",
            category="Synthesis",
            subcategory="{subject}",
            labels={"figure": "caption image responses"},
        ),
    params:
        captions=config.get("captions", {}),
        backbone_specs=caption_synthesis_backbones,
        device=config["device"],
    log:
        "logs/{subject}/captions/synthesis.log",
    benchmark:
        "logs/benchmarks/{subject}/captions/synthesis.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("synthesize_from_captions"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/synthesize_from_captions.py"

