"""Provenance recorded with every cell and run: library versions and the git commit."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from sim.cell import ENGINE_VERSION

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("torch", "numpy", "scipy", "sympy", "statsmodels")


def versions() -> dict[str, str | None]:
    """Versions of Python and of the numerical libraries (None when one is not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """{'git_commit': sha or None, 'git_dirty': bool or None} for the project's checkout."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def provenance() -> dict[str, Any]:
    """What each stored cell records about the code that produced it."""
    return {"versions": versions(), **git_state(), "engine_version": ENGINE_VERSION}


def write_json(path: Path, record: dict[str, Any]) -> Path:
    """Write a JSON record atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)
    return path
