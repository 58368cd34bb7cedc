"""Run one benchmark step in a fresh Python process, so that its peak memory and imports are its own."""

from __future__ import annotations

import json
import subprocess
import sys


def run_child(script: str, args: list[str]) -> dict:
    """Run `python script *args` and return the JSON object the child prints as its last line of stdout."""
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
