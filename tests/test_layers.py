"""Layer contract: voxelflow's core (data, metrics, figures) never imports model code or torch; among the model rooms,
imports run downwards only (toolkit <- encoders <- decoders <- synthesis)."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "voxelflow"
MODEL_SIDE = {"toolkit", "encoders", "decoders", "synthesis", "devices.py", "cli.py"}
FORBIDDEN = ("voxelflow.toolkit", "voxelflow.encoders", "voxelflow.decoders", "voxelflow.synthesis",
             "voxelflow.devices", "torch", "open_clip", "himalaya", "diffusers")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_modules_import_no_model_code():
    core_files = [p for p in CORE.rglob("*.py") if p.relative_to(CORE).parts[0] not in MODEL_SIDE]
    assert len(core_files) > 10
    offenders = {str(p.relative_to(CORE)): sorted(n for n in _imports(p) if n.startswith(FORBIDDEN))
                 for p in core_files}
    assert {k: v for k, v in offenders.items() if v} == {}


# room -> the rooms it must never import (the toolkit at the bottom, synthesis at the top)
MODEL_LAYERS = {
    "toolkit": ("voxelflow.encoders", "voxelflow.decoders", "voxelflow.synthesis"),
    "encoders": ("voxelflow.decoders", "voxelflow.synthesis"),
    "decoders": ("voxelflow.synthesis",),
}


def test_model_rooms_import_only_downwards():
    offenders = {}
    for room, forbidden in MODEL_LAYERS.items():
        for path in (CORE / room).rglob("*.py"):
            bad = sorted(n for n in _imports(path) if n.startswith(forbidden))
            if bad:
                offenders[str(path.relative_to(CORE))] = bad
    assert offenders == {}


def test_the_toolkit_docstring_example_trains_and_resumes(tmp_path):
    """The 20-line model of the toolkit's docstring, run as written: it learns, and a refit resumes."""
    import textwrap

    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    import voxelflow.toolkit as toolkit
    from voxelflow.devices import resolve_device
    from voxelflow.toolkit.model_files import data_fingerprint
    from voxelflow.toolkit.training import EpochBatches, LoopSettings, one_cycle, train

    code = textwrap.dedent(toolkit.__doc__.split("whole::\n")[1].split("\nThen ")[0])
    names = {"torch": torch, "nn": nn, "F": F, "resolve_device": resolve_device, "EpochBatches": EpochBatches,
             "LoopSettings": LoopSettings, "one_cycle": one_cycle, "train": train, "data_fingerprint": data_fingerprint}
    exec(code, names)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 8)).astype(np.float32)
    Y = X @ rng.standard_normal((8, 5)).astype(np.float32)
    model = names["MLPEncoder"](width=32, steps=200, lr=1e-2, device="cpu", checkpoint=tmp_path / "c.pt").fit(X, Y)
    assert model.history_[-1][1] < 0.2 * model.history_[0][1] and (tmp_path / "c.pt").is_file()
    again = names["MLPEncoder"](width=32, steps=200, lr=1e-2, device="cpu", checkpoint=tmp_path / "c.pt").fit(X, Y)
    assert again.history_ == model.history_  # a finished checkpoint: nothing left to train
