# Stimulus images -> backbone features, per backbone and subject: the images of that subject's design (its own
# images and the shared ones), so adding a subject extracts only its images (each image once, but the shared
# images once per subject: NSD 8 x 10,000 = 80,000 for 73,000 images).


rule extract_features:
    input:
        design=design_input,
        stimuli=stimuli_input(),
    output:
        features="results/features/{backbone}/{subject}.h5",
    params:
        spec=backbone_spec,
        batch_size=config["features"]["batch_size"],
        device=config["device"],
    log:
        "logs/features/{backbone}-{subject}.log",
    benchmark:
        "logs/benchmarks/features/{backbone}-{subject}.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("extract_features"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/extract_features.py"
