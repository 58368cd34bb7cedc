"""One source of defaults: the config schema's defaults equal the model dataclasses' (the jobs build their
models from the config blocks, tests and scripts from the dataclasses)."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from voxelflow.mininsd import MiniNSDConfig
from voxelflow.model_configs import MODEL_BLOCKS
from voxelflow.preprocess import PreprocessOptions

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text())
BLOCKS = {**MODEL_BLOCKS, "mininsd": MiniNSDConfig, "preprocess": PreprocessOptions}


@pytest.mark.parametrize("block", BLOCKS)
def test_schema_defaults_equal_the_dataclass_defaults(block):
    node = SCHEMA
    for key in block.split("."):
        node = node["properties"][key]
    fields = {f.name: f for f in dataclasses.fields(BLOCKS[block])}
    shared = [name for name, spec in node["properties"].items() if name in fields and "default" in spec]
    assert len(shared) >= 3, shared
    for name in shared:
        field = fields[name]
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        default = list(default) if isinstance(default, tuple) else default
        assert node["properties"][name]["default"] == default, f"{block}.{name}"
