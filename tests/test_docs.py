"""What the docs state that a test can check: the README's test count is pytest's, and
docs/design.md's layers are the imports."""

from __future__ import annotations

import ast
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


def _design_layers() -> dict[str, int]:
    """docs/design.md's layer block: package or module (below seg) -> its layer."""
    text = (ROOT / "docs" / "design.md").read_text()
    block = re.search(r"<!-- layers -->\n```\n(.*?)```", text, re.S)
    assert block, "docs/design.md lost its layers block"
    layers: dict[str, int] = {}
    layer = None
    for line in block.group(1).splitlines()[1:]:
        m = re.match(r"\s*(\d+)?\s{2,}(.*?)(?:\s{2,}|$)", line)
        if m is None:
            continue
        layer = int(m.group(1)) if m.group(1) else layer
        for name in filter(None, (n.strip().removesuffix("(torch)").strip() for n in m.group(2).split(","))):
            layers[name] = layer
    return layers


def _imports() -> list[tuple[str, str, str]]:
    """(file, importing group, imported group) for every import of a seg module in src/seg, at
    any depth of the file (lazy imports inside functions count too). A group is seg's top-level
    package or module: ``seg.infer.session`` -> ``infer``; the package itself is ``seg``."""
    src = ROOT / "src" / "seg"
    found = []
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        group = "seg" if parts == ("__init__",) or parts == ("__main__",) else parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module + "." + a.name for a in node.names] if node.module == "seg" else [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                bits = name.split(".")
                if bits[0] == "seg" and len(bits) > 1 and not bits[1].startswith("__"):  # not seg.__version__
                    found.append((str(path.relative_to(ROOT)), group, bits[1]))
    return found


def test_design_doc_layers_are_the_imports():
    layers = _design_layers()
    imports = _imports()
    groups = {g for _, g, _ in imports} | {t for _, _, t in imports}
    assert groups <= set(layers), f"not in docs/design.md's layers: {sorted(groups - set(layers))}"
    wrong = [f"{f}: {a} (layer {layers[a]}) imports {b} (layer {layers[b]})"
             for f, a, b in imports if a != b and layers[b] >= layers[a]]
    assert not wrong, "imports sideways or upward:\n" + "\n".join(sorted(set(wrong)))
