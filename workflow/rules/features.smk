# Stimulus images -> backbone features, once per backbone for every image any subject saw.


rule extract_features:
    input:
        responses=expand("results/{subject}/responses.h5", subject=SUBJECTS),
        stimuli=stimuli_input(),
    output:
        features="results/features/{backbone}.h5",
    params:
        spec=backbone_spec,
        batch_size=config["features"]["batch_size"],
        device=config["device"],
    log:
        "logs/features/{backbone}.log",
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/extract_features.py"
