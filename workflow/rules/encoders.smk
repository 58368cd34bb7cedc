# Features + responses -> fitted encoders, test scores and per-ROI summaries.


rule fit_ridge:
    input:
        responses="results/{subject}/responses.h5",
        features="results/features/{backbone}.h5",
    output:
        model="results/{subject}/encoders/ridge/{backbone}/model.h5",
        scores="results/{subject}/encoders/ridge/{backbone}/scores.h5",
        summary="results/{subject}/encoders/ridge/{backbone}/summary.json",
    params:
        ridge=config["encoders"].get("ridge", {}),
        rois=config["rois"],
        device=config["device"],
    log:
        "logs/{subject}/encoders/ridge-{backbone}.log",
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/fit_ridge.py"


rule fit_transformer:
    input:
        responses="results/{subject}/responses.h5",
        features="results/features/{backbone}.h5",
    output:
        model="results/{subject}/encoders/transformer/{backbone}/model.pt",
        scores="results/{subject}/encoders/transformer/{backbone}/scores.h5",
        summary="results/{subject}/encoders/transformer/{backbone}/summary.json",
    params:
        transformer=config["encoders"].get("transformer", {}),
        rois=config["rois"],
        device=config["device"],
    log:
        "logs/{subject}/encoders/transformer-{backbone}.log",
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/fit_transformer.py"
