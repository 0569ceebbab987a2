"""Documentation that cannot rot: every ```python block of README.md and docs/*.md runs (the blocks of
one file in order, in one namespace, as a notebook would, in a fresh working directory), every
flag of the commands' --help is documented in docs/, every relative link points at a file
of the repository, and nothing cites a document the repository does not hold.

Deterministic apart from the blocks' own runs, which use fixed seeds: no false failures.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)
COMMANDS = ("sim.grid", "theory", "reports", "sim.bench", "sim.check")

RUNNER = """
import sys, traceback
blocks = {blocks!r}
namespace = {{"__name__": "__main__"}}
for line, code in blocks:
    try:
        exec(compile(code, "{name}:" + str(line), "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        sys.exit("the python block at {name} line " + str(line) + " failed")
"""


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line, code) of each ```python block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def test_the_docs_exist() -> None:
    names = {p.name for p in DOCS}
    assert {"README.md", "cli.md", "outputs.md", "decisions.md", "theory.md", "performance.md",
            "api.md"} <= names


def test_block_finder() -> None:
    text = "x\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = 2\n```\n"
    assert [m.group(1) for m in BLOCK.finditer(text)] == ["a = 1\n", "b = 2\n"]


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p)], ids=lambda p: p.name)
def test_python_blocks_run(path: Path, tmp_path: Path) -> None:
    script = RUNNER.format(blocks=python_blocks(path), name=path.relative_to(ROOT))
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


def _help_flags(command: str) -> set[str]:
    done = subprocess.run([sys.executable, "-m", command, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", done.stdout)) - {"--help"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_is_documented(command: str) -> None:
    flags = _help_flags(command)
    assert flags, f"python -m {command} --help lists no flag"
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
    missing = sorted(f for f in flags if not re.search(re.escape(f) + r"(?![a-z0-9-])", text))
    assert not missing, f"python -m {command}: flags not documented in docs/: {missing}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_point_at_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)]
    missing = [t for t in targets if t and "://" not in t and not t.startswith("mailto:")
               and not (path.parent / t).exists()]
    assert not missing, f"{path.name} links to missing files: {missing}"


def test_nothing_cites_a_document_outside_the_repository() -> None:
    """The derivations are in docs/theory.md: no file of the product cites an outside brief."""
    files = [*DOCS, *(f for p in ("sim", "theory", "reports") for f in (ROOT / p).rglob("*.py"))]
    citing = [str(f.relative_to(ROOT)) for f in files if re.search(r"\bSPEC\b", f.read_text(encoding="utf-8"))]
    assert not citing, f"these files cite SPEC instead of docs/theory.md: {citing}"
