# Images that drive chosen voxels (BrainDiVE): one job per (subject, target), then one scoring job per subject.


rule synthesize:
    input:
        responses="results/{subject}/responses.h5",
        guide=synthesis_model("guide"),
        generator=synthesis_generator(),
    output:
        images="results/{subject}/synthesis/{target}.h5",
    wildcard_constraints:
        target="|".join(synthesis_targets()),
    params:
        settings={key: SYNTHESIS[key] for key in SYNTHESIS_SAMPLING},
        target_spec=lambda wc: SYNTHESIS["targets"].get(wc.target, ""),
        backbone_spec=config["backbones"].get(SYNTHESIS["guide"]["backbone"]),
        device=config["device"],
    log:
        "logs/{subject}/synthesis/{target}.log",
    benchmark:
        "logs/benchmarks/{subject}/synthesis/{target}.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("synthesize"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/synthesize.py"


rule synthesis_grid:
    input:
        images="results/{subject}/synthesis/{target}.h5",
        responses="results/{subject}/responses.h5",
        stimuli=stimuli_input(),
    output:
        grid=report(
            "results/{subject}/figures/synthesis/{target}.png",
            caption="../report/synthesis_grid.rst",
            category="Synthesis",
            subcategory="{subject}",
            labels={"figure": "{target}"},
        ),
    wildcard_constraints:
        target="|".join(synthesis_targets()),
    params:
        target_spec=lambda wc: SYNTHESIS["targets"].get(wc.target, ""),
        n_natural=SYNTHESIS["n_natural"],
        seed=SYNTHESIS["seed"],
    log:
        "logs/{subject}/figures/synthesis-{target}.log",
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/plot_synthesis_grid.py"


rule score_synthesis:
    input:
        unpack(synthesis_inputs),
    output:
        scores="results/{subject}/synthesis/scores.tsv",
        responses_figure=report(
            "results/{subject}/figures/synthesis/responses.png",
            caption="../report/synthesis_responses.rst",
            category="Synthesis",
            subcategory="{subject}",
            labels={"figure": "target responses"},
        ),
    params:
        synthesis=SYNTHESIS,
        backbone_specs={role: config["backbones"].get(SYNTHESIS[role]["backbone"]) for role in ("guide", "validate")},
        device=config["device"],
    log:
        "logs/{subject}/synthesis/score.log",
    benchmark:
        "logs/benchmarks/{subject}/synthesis/score.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_JOB,
        **job_size("score_synthesis"),
    conda:
        "../envs/voxelflow.yaml"
    script:
        "../scripts/score_synthesis.py"


# cheap: runs where snakemake runs (a cluster never queues it)
localrules:
    synthesis_grid,
