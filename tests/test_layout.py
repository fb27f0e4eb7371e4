"""The package reads as the pipeline: imports run one way, checked here.

language -> compiler -> fit / backends.numpy / backends.onnx / ingest -> artifact
-> parity / monitor -> runtime -> cli, with joins standing apart. `featuredsl.errors` and the
artifact contract (`featuredsl.artifact.contract`) are leaves any module may import; the root
package's lazy API facade and `__version__` are exempt. Function-level imports count too: a
lazy import still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "featuredsl"

# Each unit and the units it may import directly (the rule is not transitive on purpose:
# a unit lists what it really uses).
ALLOWED: dict[str, frozenset[str]] = {
    "language": frozenset(),
    "compiler": frozenset({"language"}),
    "fit": frozenset({"compiler", "language"}),
    "backends.numpy": frozenset({"compiler", "language"}),
    "backends.onnx": frozenset({"compiler", "language"}),
    "ingest": frozenset({"compiler"}),
    "artifact": frozenset(
        {"fit", "backends.numpy", "backends.onnx", "ingest", "compiler", "language"}
    ),
    "parity": frozenset(
        {"artifact", "fit", "backends.numpy", "backends.onnx", "ingest", "compiler", "language"}
    ),
    # language: durations in words (language.durations); joins: the point-in-time lookup of
    # the offline/online consistency check; fit: the exact mergeable accumulators of streamed
    # skew sides (monitor.streaming) and of shadow's p50/p99 (runtime.shadow).
    "monitor": frozenset({"artifact", "fit", "ingest", "compiler", "language", "joins"}),
    "runtime": frozenset(
        {"monitor", "artifact", "fit", "backends.onnx", "ingest", "compiler", "language", "parity"}
    ),
    "distributed": frozenset(
        {"parity", "artifact", "fit", "backends.numpy", "ingest", "compiler", "language"}
    ),
    "joins": frozenset(),
    "cli": frozenset(
        {
            "distributed",
            "runtime",
            "monitor",
            "parity",
            "artifact",
            "fit",
            "backends.numpy",
            "backends.onnx",
            "ingest",
            "compiler",
            "language",
            "joins",
        }
    ),
}
LEAVES = frozenset({"featuredsl.errors", "featuredsl.artifact.contract"})


def unit_of(module: str) -> str | None:
    """The layout unit of a dotted module name (None for the root package and leaves)."""
    parts = module.split(".")
    if parts[0] != "featuredsl" or len(parts) < 2 or module in LEAVES or parts[1] == "__version__":
        return None
    if parts[1] == "backends":
        return f"backends.{parts[2]}" if len(parts) > 2 else None
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every featuredsl import in the file, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from featuredsl.artifact import contract` imports the submodule.
            found += [(node.lineno, _imported(node.module, alias.name)) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "featuredsl"]


def _imported(module: str, name: str) -> str:
    """What `from module import name` imports: the submodule if there is one, else `module`."""
    candidate = PACKAGE.parent / module.replace(".", "/") / name
    if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
        return f"{module}.{name}"
    return module


def violations(source_module: str, imported: list[tuple[int, str]]) -> list[str]:
    """Imports of `source_module` that break the layout rule, as readable lines."""
    unit = unit_of(source_module)
    if unit is None:
        return []
    bad = []
    for line, target in imported:
        target_unit = unit_of(target)
        if target_unit is None or target_unit == unit:
            continue
        if target_unit not in ALLOWED.get(unit, frozenset()):
            bad.append(f"{source_module}:{line} imports {target} ({unit} -> {target_unit})")
    return bad


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_in_a_unit() -> None:
    units = {unit_of(name) for name in all_modules()} - {None}
    assert units <= set(ALLOWED), units - set(ALLOWED)


def test_imports_run_one_way() -> None:
    problems = []
    for name, path in all_modules().items():
        problems += violations(name, imports_of(path))
    assert not problems, "upward or sideways imports:\n" + "\n".join(problems)


def test_leaves_import_nothing_from_featuredsl() -> None:
    for leaf in LEAVES:
        path = PACKAGE.parent / (leaf.replace(".", "/") + ".py")
        assert imports_of(path) == [], leaf


def test_allowed_graph_has_no_cycle_and_reports_floors() -> None:
    floors: dict[str, int] = {}

    def floor(unit: str, seen: tuple[str, ...] = ()) -> int:
        assert unit not in seen, f"cycle: {' -> '.join((*seen, unit))}"
        if unit not in floors:
            floors[unit] = 1 + max((floor(d, (*seen, unit)) for d in ALLOWED[unit]), default=0)
        return floors[unit]

    for unit in ALLOWED:
        floor(unit)
    assert floors["cli"] == max(floors.values())
    assert floors["joins"] == 1


def test_no_module_level_import_cycle() -> None:
    modules = all_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for node in tree.body:  # module level only: lazy imports cannot deadlock an import
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {_imported(node.module, a.name) for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


@pytest.mark.parametrize(
    ("source", "target", "bad"),
    [
        ("featuredsl.fit.fitting", "featuredsl.backends.numpy.codegen", True),
        ("featuredsl.compiler.checker", "featuredsl.artifact.spec", True),
        ("featuredsl.backends.numpy.codegen", "featuredsl.backends.onnx.graph", True),
        ("featuredsl.joins.pit", "featuredsl.compiler.ir", True),
        ("featuredsl.artifact.spec", "featuredsl.parity.runner", True),
        ("featuredsl.compiler.ir", "featuredsl.artifact.contract", False),
        ("featuredsl.cli.build", "featuredsl.parity.build", False),
        ("featuredsl.joins.pit", "featuredsl.errors", False),
    ],
)
def test_rule_catches_an_upward_import(source: str, target: str, bad: bool) -> None:
    assert bool(violations(source, [(1, target)])) is bad
