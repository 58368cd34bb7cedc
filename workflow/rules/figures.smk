# Encoding figures for the report (`snakemake --report report.html`).


rule encoding_roi_bars:
    input:
        summaries=encoder_summaries(),
    output:
        report(
            "results/figures/encoding_roi_bars.png",
            caption="../report/encoding_roi_bars.rst",
            category="Encoding",
            subcategory="All subjects",
        ),
    log:
        "logs/figures/encoding_roi_bars.log",
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_roi_bars.py"


rule encoding_maps:
    input:
        responses="results/{subject}/responses.h5",
        scores="results/{subject}/encoders/{encoder}/{backbone}/scores.h5",
        anatomy=anatomy_input,
    output:
        # volume studies: slices and a glass brain; surface studies: the inflated fsaverage's views
        **{name: report(
            f"results/{{subject}}/figures/{{encoder}}-{{backbone}}/{name}.png",
            caption=f"../report/{name}.rst",
            category="Encoding",
            subcategory="{subject}",
            labels={"figure": name.replace("_", " "), "model": "{encoder}-{backbone}"},
        ) for name in MAP_FIGURES},
        r_vs_noise_ceiling=report(
            "results/{subject}/figures/{encoder}-{backbone}/r_vs_noise_ceiling.png",
            caption="../report/r_vs_noise_ceiling.rst",
            category="Encoding",
            subcategory="{subject}",
            labels={"figure": "r vs noise ceiling", "model": "{encoder}-{backbone}"},
        ),
        predicted_vs_measured=report(
            "results/{subject}/figures/{encoder}-{backbone}/predicted_vs_measured.png",
            caption="../report/predicted_vs_measured.rst",
            category="Encoding",
            subcategory="{subject}",
            labels={"figure": "predicted vs measured", "model": "{encoder}-{backbone}"},
        ),
    params:
        data_root=DATA_ROOT,
        space=config["preprocess"]["space"],
        rois=config["rois"],
    log:
        "logs/{subject}/figures/{encoder}-{backbone}.log",
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_encoding_maps.py"


rule transformer_routing:
    input:
        model="results/{subject}/encoders/transformer/{backbone}/model.pt",
        features="results/features/{backbone}/{subject}.h5",
        responses="results/{subject}/responses.h5",
        stimuli=stimuli_input(),
    output:
        report(
            "results/{subject}/figures/transformer-{backbone}/routing.png",
            caption="../report/routing.rst",
            category="Encoding",
            subcategory="{subject}",
            labels={"figure": "attention routing", "model": "transformer-{backbone}"},
        ),
    log:
        "logs/{subject}/figures/routing-{backbone}.log",
    benchmark:
        "logs/benchmarks/{subject}/figures/routing-{backbone}.tsv"
    threads: 1
    resources:
        **job_size("transformer_routing"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_routing.py"


rule encoder_comparison:
    input:
        responses="results/{subject}/responses.h5",
        ridge="results/{subject}/encoders/ridge/{backbone}/scores.h5",
        transformer="results/{subject}/encoders/transformer/{backbone}/scores.h5",
    output:
        report(
            "results/{subject}/figures/transformer-vs-ridge-{backbone}.png",
            caption="../report/transformer_vs_ridge.rst",
            category="Encoding",
            subcategory="{subject}",
            labels={"figure": "transformer vs ridge", "model": "{backbone}"},
        ),
    params:
        rois=config["rois"],
    log:
        "logs/{subject}/figures/transformer-vs-ridge-{backbone}.log",
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_encoder_comparison.py"


rule layer_hierarchy:
    input:
        scores=lambda wc: expand("results/{subject}/encoders/ridge/{backbone}/layers.h5", subject=SUBJECTS,
                                 backbone=wc.backbone),
        responses=expand("results/{subject}/responses.h5", subject=SUBJECTS),
        anatomy=lambda wc: [path for subject in SUBJECTS for path in subject_anatomy(subject)],
    output:
        table="results/layer_hierarchy-{backbone}.tsv",
        figure=report(
            "results/figures/layer_hierarchy-{backbone}.png",
            caption="../report/layer_hierarchy.rst",
            category="Encoding",
            subcategory="All subjects",
            labels={"figure": "layer hierarchy", "model": "ridge-{backbone}"},
        ),
        best_layer=report(
            "results/figures/best_layer-{backbone}.png",
            caption="../report/best_layer.rst",
            category="Encoding",
            subcategory="All subjects",
            labels={"figure": "best layer per voxel", "model": "ridge-{backbone}"},
        ),
    params:
        subjects=SUBJECTS,
        rois=config["rois"],
        data_root=DATA_ROOT,
        space=config["preprocess"]["space"],
    log:
        "logs/figures/layer_hierarchy-{backbone}.log",
    resources:
        **job_size("layer_hierarchy"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_layer_hierarchy.py"


rule rsa:
    input:
        responses=expand("results/{subject}/responses.h5", subject=SUBJECTS),
        features=expand("results/features/{backbone}/{subject}.h5", backbone=BACKBONES, subject=SUBJECTS),
    output:
        comparisons="results/rsa/comparisons.tsv",
        identification="results/rsa/identification.tsv",
        rdms=report(
            "results/figures/rsa_rdms.png",
            caption="../report/rsa_rdms.rst",
            category="RSA",
            labels={"figure": "RDMs"},
        ),
        models=report(
            "results/figures/rsa_models.png",
            caption="../report/rsa_models.rst",
            category="RSA",
            labels={"figure": "model comparisons"},
        ),
        identification_figure=report(
            "results/figures/rsa_identification.png",
            caption="../report/rsa_identification.rst",
            category="RSA",
            labels={"figure": "RSA vs tRSA identification"},
        ),
    params:
        rsa=config.get("rsa", {}),
        subjects=SUBJECTS,
        backbones=BACKBONES,
        rois=config["rois"],
    log:
        "logs/figures/rsa.log",
    benchmark:
        "logs/benchmarks/figures/rsa.tsv"
    resources:
        **job_size("rsa"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/rsa_analysis.py"
