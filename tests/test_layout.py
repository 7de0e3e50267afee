"""The package layout: each stage imports only from itself and the stages below, with no circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lmeqtl"
# The flow, bottom to top; a module may import from its own stage and any stage before it.
STAGES = ("errors", "config", "data", "simulate", "mlm", "genotypes", "expression", "finetune", "explain",
          "book", "cli")
TOP_LEVEL_FILES = {"__init__.py", "errors.py"}
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every lmeqtl module that ``path`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t.startswith("lmeqtl.") and t != name)
    return found


def stage(name: str) -> int:
    parts = name.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 else -1


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: {t for t in imports_of(name, path, known) if t in known or t.rpartition(".")[0] in known}
            for name, path in found.items()}


def test_top_level_holds_packages_and_two_modules() -> None:
    files = {p.name for p in PACKAGE.iterdir() if p.suffix == ".py"}
    assert files == TOP_LEVEL_FILES
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(STAGES) - {"errors"}


def test_imports_point_down_the_flow() -> None:
    upward = [f"{name} -> {target}" for name, targets in import_graph().items() if name != "lmeqtl"
              for target in targets if stage(target) > stage(name)]
    assert not upward, "imports from a later stage:\n" + "\n".join(sorted(upward))


def test_no_import_circles() -> None:
    graph = {name: {t if t in modules() else t.rpartition(".")[0] for t in targets}
             for name, targets in import_graph().items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    circles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            # a package's __init__ re-exporting its own modules is not a circle
            if target == node or node.startswith(target + ".") or target.startswith(node + "."):
                continue
            if state.get(target) == 1:
                circles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else target)
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_readable(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (split it at a concept boundary)"


def test_analysis_packages_know_no_run_directory() -> None:
    """RQ1-RQ5 and the MLM take arrays, tables and configs: no step names, no NotebookRun, no argparse."""
    words = ("NotebookRun", "argparse", "_STEP", "run_dir")
    found = [f"{name}: {word}" for name, path in modules().items()
             if stage(name) < STAGES.index("book") for word in words if word in path.read_text()]
    assert not found, "\n".join(found)
