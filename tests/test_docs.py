"""Figures in the docs that a test can check: the README's test count is pytest's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import COLLECTED

ROOT = Path(__file__).resolve().parents[1]


def test_readme_test_count_is_pytests():
    if not COLLECTED.get("whole"):
        pytest.skip("a part of the suite was collected: the count applies to the whole of it")
    block = re.search(r"<!-- BEGIN test_count -->\n(.*?)<!-- END test_count -->", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md lost its test_count block"
    assert block.group(1).strip() == f"{COLLECTED['n']} tests", "run `python benchmarks/update_readme.py`"
