"""The tree is the pipeline: models -> export -> build -> runtime -> synthesis -> gpt_sovits, files between the
stages. A stage may import earlier ones, never a later one (checked on every import statement, lazy ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gsv_trt"
ORDER = ("models", "export", "build", "runtime", "synthesis", "gpt_sovits")


def imported_stages(path: Path) -> set[str]:
    """The gsv_trt sub-packages a module imports."""
    here = path.relative_to(PACKAGE.parent).with_suffix("").parts  # ("gsv_trt", "build", "engines")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = list(here[:-node.level]) + (node.module.split(".") if node.module else [])
            else:
                base = (node.module or "").split(".")
            names = [base + [alias.name] for alias in node.names] if len(base) == 1 else [base]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        else:
            continue
        found.update(parts[1] for parts in names if len(parts) > 1 and parts[0] == "gsv_trt")
    return found


@pytest.mark.parametrize("stage", ORDER)
def test_no_stage_imports_a_later_one(stage):
    later = set(ORDER[ORDER.index(stage) + 1:]) | {"commands", "cli"}
    offending = {str(p.relative_to(PACKAGE)): sorted(imported_stages(p) & later)
                 for p in sorted((PACKAGE / stage).rglob("*.py"))}
    assert {k: v for k, v in offending.items() if v} == {}
