"""Snakemake glue: brain -> image-embedding decoder of one subject, with test retrieval (rule fit_contrastive)."""

import json

from voxelflow.atomic_output import atomic_output
from voxelflow.config_check import dataclass_settings
from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.encoders.features import load_features
from voxelflow.responses import read_responses, training_pairs
from voxelflow.script_runner import run_reporting_errors, training_checkpoint


def main(smk) -> None:
    settings = smk.params.contrastive
    responses = read_responses(smk.input.responses, trials=settings["train_on"] == "trials")
    targets = load_features(smk.input.features, responses.image_ids, tokens=settings["tokens"])
    targets = targets.embeddings(settings["tokens"])
    test = responses.is_test
    with training_checkpoint(smk.output.model) as checkpoint:
        decoder = ContrastiveDecoder(dataclass_settings(ContrastiveConfig, settings), device=smk.params.device,
                                     checkpoint=checkpoint)
        decoder.fit(*training_pairs(responses, targets, settings["train_on"]))
        decoder.save(smk.output.model)
    retrieval = decoder.retrieve(responses.responses[test], targets[test], settings["n_candidates"],
                                 settings["n_draws"])
    with atomic_output(smk.output.retrieval) as tmp:
        tmp.write_text(json.dumps({"subject": smk.wildcards.subject, "target": settings["target"],
                                   "n_test": int(test.sum()),
                                   "sessions": len(responses.attrs["sessions"]), **retrieval}, indent=1))


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
