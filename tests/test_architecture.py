"""Specification of the walls between packages (docs/architecture.md): imports go one way, only the store speaks
SQL, only the UI speaks Gradio, and the rating core stays pure.

Read from the source with `ast`, every import counted, including those inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("arena", "evals", "facts", "leaderboard", "models", "store", "training", "ui")
MODULES = ("app", "settings")
PROJECT = (*PACKAGES, *MODULES)

# Who may import whom (top-level packages and modules). Anything else is a wall broken.
ALLOWED = {
    "facts": set(),
    "models": set(),
    "settings": {"models"},
    "store": {"facts", "models", "settings"},
    "leaderboard": {"facts", "store"},
    "arena": {"facts", "models", "store", "settings", "leaderboard"},
    "training": {"facts", "models", "store", "settings", "leaderboard"},
    "evals": {"facts", "models", "store", "settings", "leaderboard"},
    "ui": {"arena", "facts", "leaderboard", "models", "store"},
    "app": set(PROJECT) - {"app"},
}
# Composition roots: where settings are built, the database is opened and the parts are wired.
ROOT_NAMES = {"__main__.py"}
ROOT_FILES = {"app.py", "store/migrations/env.py"}


def sources() -> Iterator[Path]:
    for name in MODULES:
        yield REPO / f"{name}.py"
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def imported(path: Path) -> Iterator[str]:
    """Every module name `path` imports, absolute."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def owner(path: Path) -> str:
    relative = path.relative_to(REPO)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def is_root(path: Path) -> bool:
    return path.name in ROOT_NAMES or str(path.relative_to(REPO)) in ROOT_FILES


def edges() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files that import it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sources():
        source = owner(path)
        for module in imported(path):
            target = module.split(".")[0]
            if target in PROJECT and target != source:
                graph.setdefault(source, {}).setdefault(target, set()).add(str(path.relative_to(REPO)))
    return graph


def test_imports_between_packages_follow_the_map() -> None:
    broken = {
        f"{source} -> {target} ({', '.join(sorted(files))})"
        for source, targets in edges().items()
        for target, files in targets.items()
        if target not in ALLOWED[source]
    }
    assert not broken, "imports that break the walls:\n" + "\n".join(sorted(broken))


def test_there_is_no_import_cycle_between_packages() -> None:
    graph = {source: set(targets) for source, targets in edges().items()}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif len(path) < len(PROJECT):
                visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        ("sqlalchemy", lambda path: owner(path) == "store" or is_root(path)),
        ("alembic", lambda path: owner(path) == "store"),
        ("gradio", lambda path: owner(path) == "ui" or str(path.relative_to(REPO)) == "app.py"),
        ("fastapi", lambda path: owner(path) in ("ui",) or str(path.relative_to(REPO)) == "app.py"),
    ],
)
def test_a_library_is_imported_only_where_it_belongs(library: str, allowed: object) -> None:
    offenders = sorted(
        str(path.relative_to(REPO))
        for path in sources()
        if any(module.split(".")[0] == library for module in imported(path)) and not allowed(path)  # type: ignore[operator]
    )
    assert not offenders, f"{library} imported outside its home: {offenders}"


def test_the_rating_and_audit_core_is_pure() -> None:
    """No database, no UI, no torch: the leaderboard's core takes frames and returns frozen results."""
    forbidden = {"store", "arena", "ui", "training", "torch", "transformers", "sqlalchemy", "gradio"}
    offenders = sorted(
        f"{path.relative_to(REPO)} imports {module}"
        for path in sorted((REPO / "leaderboard").rglob("*.py"))
        if not is_root(path)
        for module in imported(path)
        if module.split(".")[0] in forbidden
    )
    assert not offenders, offenders


def test_the_test_would_see_a_broken_wall(tmp_path: Path) -> None:
    # Guards the scanner: an import inside a function body counts as much as one at the top.
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from store.votes import Votes\n    import gradio.utils\n")
    assert sorted(imported(module)) == ["gradio.utils", "store.votes"]
