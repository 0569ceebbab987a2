"""Shared test configuration: makes `tests/stat_tools.py` importable from every test folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
