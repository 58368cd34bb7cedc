"""Snakemake glue: brain -> image-embedding decoder of one subject, from scratch or fine-tuned from a shared
decoder pretrained on other subjects, with test retrieval (rule fit_contrastive)."""

import json

from voxelflow.atomic_output import atomic_output
from voxelflow.config_check import dataclass_settings
from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.encoders.features import load_features
from voxelflow.responses import first_sessions, read_responses, training_pairs
from voxelflow.script_runner import run_reporting_errors, training_checkpoint


def main(smk) -> None:
    settings, start, subject = smk.params.contrastive, smk.params.start, smk.wildcards.subject
    sessions = "all" if start is None else start["sessions"]
    responses = read_responses(smk.input.responses, trials=settings["train_on"] == "trials" or sessions != "all")
    targets = load_features(smk.input.features, responses.image_ids, tokens=settings["tokens"])
    targets = targets.embeddings(settings["tokens"])
    training = first_sessions(responses, sessions)
    pretrained, fine_tuning = None, {}
    if start is not None:
        pretrained = ContrastiveDecoder.load(smk.input.shared, device=smk.params.device)
        fine_tuning = {"train": start["fine_tune"], "adapter_init": start["adapter_init"]}
    with training_checkpoint(smk.output.model) as checkpoint:
        decoder = ContrastiveDecoder(dataclass_settings(ContrastiveConfig, settings), device=smk.params.device,
                                     checkpoint=checkpoint)
        kept = responses.image_ids.searchsorted(training.image_ids)
        decoder.fit(*training_pairs(training, targets[kept], settings["train_on"]), subject=subject,
                    pretrained=pretrained, **fine_tuning)
        decoder.save(smk.output.model)
    test = responses.is_test
    retrieval = decoder.retrieve(responses.responses[test], targets[test], smk.params.retrieval["n_candidates"],
                                 smk.params.retrieval["n_draws"])
    used = training.attrs.get("training_sessions", responses.attrs["sessions"])
    with atomic_output(smk.output.retrieval) as tmp:
        tmp.write_text(json.dumps({"subject": subject, "target": settings["target"], "n_test": int(test.sum()),
                                   "sessions": len(responses.attrs["sessions"]), "training_sessions": len(used),
                                   "pretrained_on": pretrained.subjects_ if pretrained is not None else [],
                                   **retrieval}, indent=1))


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
