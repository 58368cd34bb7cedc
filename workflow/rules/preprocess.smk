# Study files -> per-subject response tensors (results/{subject}/responses.h5).


rule make_mininsd:
    output:
        nsddata=directory(mininsd_outputs()["nsddata"]),
        nsddata_betas=directory(mininsd_outputs()["nsddata_betas"]),
        nsddata_stimuli=directory(mininsd_outputs()["nsddata_stimuli"]),
        truth=mininsd_outputs()["truth"],
    params:
        mininsd=config["mininsd"],
    log:
        "logs/make_mininsd.log",
    benchmark:
        "logs/benchmarks/make_mininsd.tsv"
    threads: 1
    resources:
        **job_size("make_mininsd"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/make_mininsd.py"


rule preprocess_subject:
    input:
        unpack(study_inputs),
    output:
        responses="results/{subject}/responses.h5",
    params:
        data_root=DATA_ROOT,
        # the release's settings only where it is read (so that other studies' params, and plans, stay as they were)
        preprocess={**config["preprocess"], "algonauts": config["algonauts"]} if ALGONAUTS
        else {**config["preprocess"], "study_table": config.get("study_table")} if TABLE else config["preprocess"],
        common_subjects=SUBJECTS if config["preprocess"]["test_split"] == "shared-common" else [],
    log:
        "logs/{subject}/preprocess.log",
    benchmark:
        "logs/benchmarks/{subject}/preprocess.tsv"
    threads: 1
    resources:
        **job_size("preprocess_subject"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/preprocess_subject.py"
