# Memory (MB) and run time (minutes) of every compute rule's job, as `resources: mem_mb, runtime`: a
# cluster profile sends them to the scheduler (profiles/slurm: sbatch --mem, --time). Two sizes a rule:
#
# demo: the mini-NSD demo's own benchmark files (logs/benchmarks/, `voxelflow benchmarks`), measured with
#       `make demo` on 2 CPU cores (two runs, 2026-12-03, the larger of the two; the shared-decoder and few-data
#       rules and fit_contrastive: one run, 2026-12-04): peak memory (max_rss) x 2 rounded up to 500 MB, at least
#       1000 MB; wall time x 10 rounded up to 5 min (a job's wall time includes 4-7 s of imports, and a busy
#       node or `make demo-full`, with a 5x longer generator and a tiny ViT's tokens, is slower). text_selectivity
#       runs only for open_clip backbones (make demo-full): sized like context_attention.
# nsd:  one NSD subject at func1pt8mm (~10,000 images, 15,724 nsdgeneral voxels, 30,000 trials) against the
#       demo's 500 images, ~1,200 voxels and 1,500 trials: memory from the largest arrays the job holds at
#       that size (noted per rule), run time on one GPU for torch rules. These are estimates from the data
#       sizes, not measurements on NSD: func1mm holds ~8x the voxels, and a rule that runs short is resized
#       with --set-resources RULE:mem_mb=N or RULE:runtime=MIN.
#
# A retried job (--retries N) gets attempt x its size.
JOB_SIZES = {
    # rule: {"demo": (mem_mb, minutes), "nsd": (mem_mb, minutes)}
    "make_mininsd": {"demo": (1000, 5), "nsd": (1000, 5)},  # writes the demo study; never runs on NSD
    # one session's volume (81x104x83x750 int16, 1 GB; 2 GB as float32) + all trials x voxels (1.9 GB)
    "preprocess_subject": {"demo": (1000, 5), "nsd": (12000, 180)},
    # the subject's ~10,000 stimuli (425 px RGB: 5.4 GB) and a ViT-B's tokens (10,000 x 197 x 768 float16: 3 GB)
    "extract_features": {"demo": (2500, 5), "nsd": (24000, 120)},
    # features (9,000 x 768) and responses (9,000 x 15,724 float32: 0.6 GB), copied per cross-validation fold
    "fit_ridge": {"demo": (2500, 5), "nsd": (16000, 120)},
    # one ridge per layer, each on that layer's stored tokens flattened (reduce a ViT's with tokens: grid or pca:
    # 9,000 x 16 x 768 float32 is 0.4 GB) and the responses (0.6 GB)
    "sweep_ridge_layers": {"demo": (2500, 5), "nsd": (24000, 240)},
    "layer_hierarchy": {"demo": (2000, 5), "nsd": (4000, 30)},
    # 1,000 shared images: every layer's test features (a ViT-B's 197 x 768 tokens x 1,000 float32: 0.6 GB) and
    # RDMs of 499,500 pairs, compared in every bootstrap sample (200) for each analysis, ROI and layer
    "rsa": {"demo": (2000, 5), "nsd": (16000, 240)},
    # the subject's 9,000 training embeddings (9,000 x 768) and a GPT-2 captioner decoding a few hundred captions
    "caption_voxels": {"demo": (2000, 5), "nsd": (8000, 60)},
    # every training image's tokens in memory (9,000 x 257 x 768 float32: 7 GB)
    "fit_transformer": {"demo": (2000, 5), "nsd": (32000, 480)},
    "transformer_routing": {"demo": (2500, 5), "nsd": (32000, 30)},
    # the other subjects' responses and features (7 x 0.6 GB + 7 x 0.3 GB)
    "meta_train_in_context": {"demo": (2500, 15), "nsd": (32000, 720)},
    "fit_in_context": {"demo": (5500, 10), "nsd": (16000, 60)},
    "few_shot_curve": {"demo": (5000, 15), "nsd": (16000, 240)},
    "context_attention": {"demo": (2500, 5), "nsd": (16000, 30)},
    "text_selectivity": {"demo": (2500, 5), "nsd": (8000, 30)},
    # MindEye's MLP on 9,000 x 15,724 inputs (hidden 4096: 0.26 G parameters) for 240 epochs
    "fit_contrastive": {"demo": (2000, 10), "nsd": (32000, 600)},
    # MindEye2's pretraining: 7 subjects' single trials in memory (7 x 27,750 x 15,724 float32: 12 GB)
    "pretrain_shared_decoder": {"demo": (2000, 10), "nsd": (64000, 1440)},
    # one subject, two decoders for each session count (1, 2, 5, all: ~1.3 fits of all sessions each)
    "few_data_decoders": {"demo": (2000, 40), "nsd": (32000, 1440)},
    # ridge and in-context voxel models for each session count; in-context needs no fitting
    "few_data_encoders": {"demo": (3500, 20), "nsd": (16000, 240)},
    "fit_prior": {"demo": (2000, 5), "nsd": (16000, 480)},
    "fit_low_level": {"demo": (2000, 5), "nsd": (16000, 240)},
    # real runs load a trained generator; training one on NSD's 73,000 images is a day on one GPU
    "train_generator": {"demo": (3000, 80), "nsd": (64000, 1440)},
    "reconstruct": {"demo": (6000, 30), "nsd": (32000, 360)},
    # ground truth and every candidate set at 425 px in float64 (1,000 x 425 x 425 x 3 x 8 B = 4.3 GB each)
    "score_reconstructions": {"demo": (3000, 20), "nsd": (24000, 120)},
    "synthesize": {"demo": (2000, 10), "nsd": (16000, 240)},
    # one subject's ~200 test images through one encoder (the transformer reads its token grids)
    "algonauts_submission": {"demo": (2000, 5), "nsd": (8000, 20)},
    "score_synthesis": {"demo": (2500, 10), "nsd": (16000, 60)},
    # Stable Diffusion at 512 px, 50 steps with classifier-free guidance: ~5 s an image on one GPU
    "synthesize_from_captions": {"demo": (2500, 10), "nsd": (16000, 120)},
}


def job_size(rule):
    """`resources:` of `rule` for the configured study ({"mem_mb": MB, "runtime": minutes}, each times the
    attempt number), to unpack into the rule's resources: `**job_size("fit_ridge")`."""
    mem_mb, minutes = JOB_SIZES[rule]["demo" if config["dataset"] == "demo" else "nsd"]
    return {"mem_mb": lambda wildcards, attempt: mem_mb * attempt,
            "runtime": lambda wildcards, attempt: minutes * attempt}
