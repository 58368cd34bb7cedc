"""Snakemake glue: where each ROI query of the transformer looks (rule transformer_routing)."""


from voxelflow.encoders.features import load_features
from voxelflow.encoders.transformer import TransformerEncoder
from voxelflow.figures import attention_routing, save_figure, token_grid
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    test_ids = responses.image_ids[responses.is_test]
    tokens = load_features(smk.input.features, test_ids, tokens=True).tokens
    encoder = TransformerEncoder.load(smk.input.model, device="cpu")
    grids = token_grid(encoder.attention(tokens).mean(0))
    examples = read_stimuli(smk.input.stimuli, test_ids[:3])
    save_figure(attention_routing(grids, encoder.group_names_, examples), smk.output[0])


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
