"""Check a workflow config against its JSON schema and say what is wrong in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema
import yaml


def config_problem(config: dict, schema_path: str | Path) -> str | None:
    """The most relevant schema violation of `config`, as one line naming the key; None if valid.

    Example: "config.yaml: preprocess.zscore_stats: 'sessions' is not one of ['all', 'train']".
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "top level"
    return f"config.yaml: {where}: {error.message}"


def dataclass_settings(cls, settings: dict):
    """An instance of the dataclass `cls` made from the keys of a config block that are its fields; the block's
    other keys (e.g. a decoder's `target`) belong to the workflow, not to the model."""
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{key: tuple(value) if isinstance(value, list) else value
                  for key, value in settings.items() if key in names})
