"""The layers written in the README hold: every import of every module (top level and inside functions) points
down or sideways within a layer, features meet only along the edges listed here, and no two top-level
packages import each other, directly or around a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import agent_scientist

ROOT = Path(agent_scientist.__file__).parent
PKG = "agent_scientist"

# Top to bottom; an import may point to its own layer or a lower one.
LAYERS = [
    ("entry points", {"cli", "web", "mcp", "evals", "__main__"}),
    # doctor composes the capabilities' checks with its own (model, home, packages): beside the composition root.
    ("composition", {"capabilities", "doctor"}),
    ("features", {"review", "report", "memory", "papers", "experiments"}),
    ("runtime", {"agent"}),
    # sandbox: the process sandbox both experiments and the planner's interpreter run in (imports config only).
    ("contracts", {"contracts", "workspace", "records", "config", "fsio", "untrusted", "sandbox", "prompting",
                   "__init__"}),
]
# Modules whose layer is not their package's: each its own unit in the cycle check.
MODULE_LAYERS = {
    f"{PKG}.mcp.client": "features",  # the capability that loads external MCP servers' tools; mcp.server serves ours
    f"{PKG}.papers.sources.registry": "contracts",  # a table of source names config checks paper_sources against
}
# Features meet through contracts and records (report renders what review recorded by reading records.py); these
# are the only feature -> feature imports, each with its reason.
FEATURE_EDGES = {
    ("report", "papers"): "citations are read from papers (the citation grammar, the papers' store)",
    ("review", "papers"): "the checker reads citations and the cited pages from papers",
    ("report", "memory"): "the report lists the notes the memory kept",
    ("review", "memory"): "the checker asks the worker and searches passages through the memory",
    ("memory", "papers"): "note sources are paper ids (papers.ids); gather_evidence reads and indexes the papers"
                          "' pages and checks quotes with the review's own check (papers.store, papers.quotes); the"
                          " lexical index is the one BM25 (papers.lexical)",
}
FEATURE_EDGE_TARGETS = {("memory", "papers"): (f"{PKG}.papers.ids", f"{PKG}.papers.quotes", f"{PKG}.papers.store",
                                               f"{PKG}.papers.lexical")}  # edges narrowed to these modules


def module_name(path: Path) -> str:
    parts = (PKG, *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str) -> set[str]:
    """The program's modules `module` imports anywhere in its body (not under `if TYPE_CHECKING:`, which never runs)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    # Every import runs the root package (it holds only the version): it is no edge.
    return {resolve(name) for name in found if name.startswith(PKG + ".")} - {module, PKG, ""}


def resolve(name: str) -> str:
    """The module a dotted name lives in (`from agent_scientist.x import function` -> agent_scientist.x)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def unit(module: str) -> str:
    """What the cycle check and the layer rule see: the top-level package, or a module placed on its own."""
    for special in MODULE_LAYERS:
        if module == special or module.startswith(special + "."):
            return special
    rest = module[len(PKG) + 1:]
    return rest.split(".")[0] if rest else "__init__"


def layer_of(module: str) -> int:
    u = unit(module)
    name = MODULE_LAYERS.get(u)
    for index, (layer, members) in enumerate(LAYERS):
        if name == layer or (name is None and u in members):
            return index
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS in tests/test_layers.py")


def edges() -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for module in MODULES:
        for target in imports(module):
            if unit(module) != unit(target):
                out[(module, target)].add(f"{module} -> {target}")
    return out


def test_every_package_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def violations() -> list[str]:
    """Each import that runs up the layers, or from one feature into another along no listed edge."""
    wrong = []
    for module, target in edges():
        a, b = layer_of(module), layer_of(target)
        if a > b:
            wrong.append(f"{module} ({LAYERS[a][0]}) imports {target} ({LAYERS[b][0]}), a higher layer")
        elif a == b and LAYERS[a][0] == "features":
            edge = (unit(module), unit(target))
            allowed = FEATURE_EDGES.get(edge) and (
                edge not in FEATURE_EDGE_TARGETS or target.startswith(FEATURE_EDGE_TARGETS[edge]))
            if not allowed:
                wrong.append(f"{module} imports {target}: features meet through contracts and records; if this "
                             "edge is the architecture, add it to FEATURE_EDGES with its reason")
    return sorted(wrong)


def test_imports_point_down_the_layers() -> None:
    wrong = violations()
    assert not wrong, "\n".join(wrong)


def test_no_cycle_between_top_level_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, target in edges():
        graph[unit(module)].add(unit(target))
    cycles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_the_checker_finds_an_import_up_and_one_across_features(tmp_path: Path) -> None:
    probes = {f"{PKG}.agent.probe_up": "def f():\n    from agent_scientist.capabilities import default_capabilities\n",
              f"{PKG}.papers.probe_across": "from agent_scientist.experiments.runner import run_script\n"}
    for name, text in probes.items():
        (tmp_path / f"{name}.py").write_text(text)
        MODULES[name] = tmp_path / f"{name}.py"
    try:
        found = violations()
    finally:
        for name in probes:
            del MODULES[name]
    assert found == [f"{PKG}.agent.probe_up (runtime) imports {PKG}.capabilities (composition), a higher layer",
                     f"{PKG}.papers.probe_across imports {PKG}.experiments.runner: features meet through contracts "
                     "and records; if this edge is the architecture, add it to FEATURE_EDGES with its reason"]


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    source = ("from . import fsio\nimport agent_scientist.config\nif TYPE_CHECKING:\n    import agent_scientist.cli\n"
              "def later():\n    from agent_scientist.capabilities import default_capabilities\n")
    MODULES[f"{PKG}.probe_layers"] = tmp_path / "probe_layers.py"
    (tmp_path / "probe_layers.py").write_text(source)
    try:
        assert imports(f"{PKG}.probe_layers") == {f"{PKG}.fsio", f"{PKG}.config", f"{PKG}.capabilities"}
    finally:
        del MODULES[f"{PKG}.probe_layers"]


def test_modules_placed_lower_than_their_package_load_nothing_above() -> None:
    """The registry table config reads, and the packages above it, import nothing of the program at run time."""
    for module in (f"{PKG}.papers", f"{PKG}.papers.sources", f"{PKG}.papers.sources.registry"):
        assert imports(module) == set(), module


def test_runner_and_executors_do_not_import_each_other() -> None:
    runner = f"{PKG}.experiments.runner"
    executors = [m for m in MODULES if m.startswith(f"{PKG}.experiments.executors")]
    assert not [m for m in executors if runner in imports(m)]
    assert not [m for m in imports(runner) if m.startswith(f"{PKG}.experiments.executors.")], \
        "the runner asks the Executor it is given, never a given executor's module"


def test_features_import_the_contracts_without_the_runtime() -> None:
    code = ("import sys, agent_scientist.contracts\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('smolagents', 'litellm')"
            " or m.startswith('agent_scientist.agent')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_listed_feature_edge_is_used() -> None:
    """An edge no import needs any more is deleted from FEATURE_EDGES, so the list stays the architecture."""
    used = {(unit(m), unit(t)) for m, t in edges()}
    assert sorted(set(FEATURE_EDGES) - used) == []
