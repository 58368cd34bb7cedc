# dataset algonauts2023: every encoder's predictions of the release's test images in the challenge's submission
# format, and the challenge's score on the held-out images of every subject, encoder and backbone.


rule algonauts_submission:
    input:
        model=lambda wc: encoder_model_file({"encoder": wc.encoder, "backbone": wc.backbone}).format(
            subject=wc.subject),
        features="results/features/{backbone}/{subject}.h5",
        responses="results/{subject}/responses.h5",
    output:
        lh="results/algonauts2023/{encoder}-{backbone}/algonauts_2023_challenge_submission/{subject}/lh_pred_test.npy",
        rh="results/algonauts2023/{encoder}-{backbone}/algonauts_2023_challenge_submission/{subject}/rh_pred_test.npy",
    params:
        data_root=DATA_ROOT,
        device=config["device"],
    log:
        "logs/{subject}/algonauts_submission-{encoder}-{backbone}.log",
    resources:
        **job_size("algonauts_submission"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/algonauts_submission.py"


rule algonauts_scores:
    input:
        scores=expand("results/{subject}/encoders/{encoder}/{backbone}/scores.h5", subject=SUBJECTS,
                      encoder=ENCODERS, backbone=BACKBONES),
        responses=expand("results/{subject}/responses.h5", subject=SUBJECTS),
    output:
        table="results/algonauts2023/scores.tsv",
    params:
        rois=config["rois"],
    log:
        "logs/algonauts_scores.log",
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/algonauts_scores.py"


# cheap: runs where snakemake runs (a cluster never queues it)
localrules:
    algonauts_scores,
