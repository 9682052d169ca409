"""The layers of lib/eventlab point down only, no import closes a circle, and the LocalStack
plugin and the Lambda handlers import nothing of eventlab.

Every import counts, also one inside a function or under ``if TYPE_CHECKING:``: a lazy import
is still a dependency, only a hidden one. The layers, lowest first (a module may import its own
layer and those below it):

0. leaves: file locations, policies, waiting, processes, the run journal, notebook parameters,
   signal handling, the handler-folder resolver;
1. runtime: the emulators as host processes (and their companions, started by module name);
2. target: where resources live and the clients that reach it;
3. run: names, tags, the ledger, resource kinds;
4. services: one module per AWS service, owning its resource kinds;
5. measure, topology, schemas, and what builds on the services alone: leaks, idempotency; the
   eventbridgev2 server (it checks patterns with topology's EventBridge rules);
6. experiments, bench, workbook and its results page (room for fidelity);
7. patterns, deployments;
8. cli, testing, and the package itself (``eventlab/__init__.py``, the facade).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "lib"
PLUGIN = ROOT / "emulators" / "localstack"
HANDLERS = LIB / "eventlab" / "handlers"

LAYERS: list[tuple[str, ...]] = [
    ("eventlab.locations", "eventlab.policies", "eventlab.waiting", "eventlab.processes", "eventlab.journal",
     "eventlab.parameters", "eventlab.interrupts", "eventlab.handlers"),
    ("eventlab.runtime",),
    ("eventlab.target",),
    ("eventlab.run",),
    ("eventlab.services",),
    ("eventlab.measure", "eventlab.topology", "eventlab.schemas", "eventlab.leaks", "eventlab.idempotency",
     "eventlab.eventbridgev2"),
    ("eventlab.experiments", "eventlab.bench", "eventlab.workbook", "eventlab.report", "eventlab.fidelity"),
    ("eventlab.patterns", "eventlab.deployments"),
    ("eventlab.cli", "eventlab.testing", "eventlab"),
]


def _modules(root: Path, package: str, skip: Path | None = None) -> dict[str, Path]:
    """Every module of ``package`` under ``root`` by dotted name (a package by its __init__)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        if skip is not None and skip in path.parents and path.parent != skip:
            continue  # Lambda code in a handler folder: not a module of the package
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules(LIB, "eventlab", skip=HANDLERS)


def _imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in a file, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # `from pkg import name`: the submodule if there is one
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in MODULES else base), node.lineno


def _eventlab_imports(path: Path, module: str) -> list[tuple[str, int]]:
    """The imports of eventlab modules, each resolved to the module (or package) it names."""
    out = []
    for name, line in _imports(path, module):
        if name != "eventlab" and not name.startswith("eventlab."):
            continue
        while name not in MODULES and "." in name:  # `eventlab.x.attribute`: its module
            name = name.rpartition(".")[0]
        out.append((name, line))
    return out


def layer_of(module: str) -> int | None:
    """The layer of the longest entry that is the module or one of its packages (``eventlab``
    itself stands for its ``__init__`` only: a new module must be placed)."""
    best: tuple[int, int] | None = None
    for index, entries in enumerate(LAYERS):
        for entry in entries:
            if module == entry or ("." in entry and module.startswith(entry + ".")):
                if best is None or len(entry) > best[0]:
                    best = (len(entry), index)
    return None if best is None else best[1]


GRAPH = {module: _eventlab_imports(path, module) for module, path in MODULES.items()}


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{line}"


def test_every_module_has_a_layer() -> None:
    unplaced = [module for module in MODULES if layer_of(module) is None]
    assert not unplaced, f"{unplaced}: add each to LAYERS in {Path(__file__).name}, at the lowest layer its imports allow"


def test_imports_point_down_only() -> None:
    upward = []
    for module, imports in GRAPH.items():
        mine = layer_of(module)
        for imported, line in imports:
            theirs = layer_of(imported)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(
                    f"{_where(module, line)}: {module} (layer {mine}) imports {imported} (layer {theirs}). Fix: move "
                    f"what it needs from {imported} down to layer {mine} or below, or have a caller above pass it in"
                )
    assert not upward, "\n".join(upward)


def test_no_import_closes_a_circle() -> None:
    """Depth-first search for a back edge; the circle is shown import by import."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[tuple[str, int]] = []
    circles: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        for imported, line in GRAPH.get(module, []):
            if imported == module:
                continue
            if state.get(imported) == 1:
                start = next(i for i, (m, _) in enumerate(path) if m == imported) if any(m == imported for m, _ in path) else len(path)
                steps = [*path[start:], (module, line)]
                circle = " -> ".join(f"{m} ({_where(m, ln)})" for m, ln in steps) + f" -> {imported}"
                if circle not in circles:
                    circles.append(circle)
            elif state.get(imported) is None and imported in GRAPH:
                path.append((module, line))
                visit(imported)
                path.pop()
        state[module] = 2

    for module in GRAPH:
        if module not in state:
            visit(module)
    assert not circles, "import circles (break each by moving the shared code down a layer):\n" + "\n".join(circles)


def test_the_localstack_plugin_imports_nothing_of_eventlab() -> None:
    """It runs in LocalStack's own environment, where eventlab is not installed."""
    offending = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}. Fix: write the name down in eventlab_localstack "
        "(and keep tests/unit/test_localstack_plugin.py's agreement check)"
        for module, path in _modules(PLUGIN, "eventlab_localstack").items()
        for name, line in _imports(path, module)
        if name == "eventlab" or name.startswith("eventlab.")
    ]
    assert not offending, "\n".join(offending)


def test_lambda_handlers_import_nothing_of_eventlab() -> None:
    """Handler folders are packaged as they are; what they share is bundled (bundle.txt)."""
    offending = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}. Fix: list the module in the folder's bundle.txt and import it by its file name"
        for path in sorted(HANDLERS.glob("*/**/*.py"))
        for name, line in _imports(path, "handler")
        if name == "eventlab" or name.startswith("eventlab.")
    ]
    assert not offending, "\n".join(offending)


def test_the_guard_sees_imports_inside_functions_and_type_checking(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from eventlab.run import Run\n"
        "def f():\n    from eventlab import leaks\n    import eventlab.services.sqs\n"
    )
    names = {name for name, _ in _eventlab_imports(source, "eventlab.probe")}
    assert names == {"eventlab.run", "eventlab.leaks", "eventlab.services.sqs"}
