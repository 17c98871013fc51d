"""The functions app is layered (docs/functions.md, "Layout and layers"): no import cycle among its
modules — counting imports inside functions, which is where cycles used to hide — and its HTTP
edge `functions/api/` is imported by nothing but itself, the URL conf and the ASGI router. Read
from the source with `ast`, so it needs no import of the code and no extra package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions"
# Who may import functions.api: the URL conf names it as a string (`include("functions.api.urls")`),
# and the ASGI router hands sync invokes to its hand-off edge.
API_IMPORTERS = {"baas.asgi"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str] | None = None) -> set[str]:
    """Every module `path` imports, wherever the import statement stands. `from a import b` is an
    import of `a.b` when that is a module (of `modules`, if given), else of `a`, as Python sees it."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if modules is None:
                    found.update((base, submodule))
                else:
                    found.add(submodule if submodule in modules else base)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}
    names = set(modules)
    return {name: {t for t in _imports(path, names) if t in names} - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_functions_has_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_http_edge_is_imported_only_by_urls_and_the_asgi_router() -> None:
    importers = set()
    folders = [d for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != "tests"]
    for path in (path for folder in folders for path in folder.rglob("*.py")):
        if "migrations" in path.parts or "site-packages" in path.parts:
            continue
        name = _module_name(path)
        if name.startswith("functions.api"):
            continue
        if any(target == "functions.api" or target.startswith("functions.api.") for target in _imports(path)):
            importers.add(name)
    assert importers == API_IMPORTERS


def test_nothing_imports_the_celery_entry_points() -> None:
    """Messages are sent by task name (functions/sending.py): tasks.py is imported by Celery only."""
    importers = {name for name, targets in _graph().items() if "functions.tasks" in targets}
    assert importers == set()
