"""Layer contract: voxelflow's core (data, metrics, figures) never imports model code or torch."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "voxelflow"
MODEL_SIDE = {"encoders", "decoders", "synthesis", "devices.py", "cli.py"}
FORBIDDEN = ("voxelflow.encoders", "voxelflow.decoders", "voxelflow.synthesis", "voxelflow.devices", "torch",
             "open_clip", "himalaya", "diffusers")


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
