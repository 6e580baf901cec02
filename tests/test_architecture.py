"""The package layout, checked on the source text (``ast``; nothing is imported).

- no import cycle between modules, counting imports inside functions;
- imports flow one way between packages (``LAYERS``), with the exceptions in ``ALLOWED_UP``;
- no module over ``MAX_LINES`` lines unless ``LONG_MODULES`` says why;
- notebooks import nothing private from icepaper and from at most ``MAX_NOTEBOOK_PACKAGES``
  icepaper packages each;
- the README's architecture tree names exactly the package folders under ``src/icepaper``.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PKG = SRC / "icepaper"

# Imports flow from left to right: a package may import itself and the packages of earlier
# layers, never a package of its own layer or a later one (not even inside a function).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("data",),
    ("synth",),  # synth writes its datasets in data's packed format (data.packed, data.images)
    ("augment",),
    ("ssl",),
    ("representations",),
    ("cssl", "diversity", "rosettes"),
    ("papers",),
)
# The top-level package (``icepaper/__init__.py``: ``icepaper.setup``) and ``python -m icepaper``.
TOP_MODULES = {"icepaper": "core", "icepaper.__main__": "core"}

# (importing module, imported package): the only imports against the layers, and why.
ALLOWED_UP: dict[tuple[str, str], str] = {
    # load_dataset(cfg) is the one entry point every notebook calls; for the synthetic default
    # it builds the dataset on first use with synth.generate (a lazy import inside the
    # function), while synth itself depends on data's packed format. Nothing else in data
    # may import synth.
    ("icepaper.data", "synth"): "load_dataset builds the synthetic default dataset on first use",
    # The `icepaper` command is the top of the run machinery: its subcommands import, export,
    # check and generate datasets (lazy imports inside each subcommand).
    ("icepaper.core.cli", "data"): "the import / export / check-data subcommands",
    ("icepaper.core.cli", "synth"): "the generate subcommand",
}

MAX_LINES = 450
# Modules allowed over MAX_LINES, each with a one-line reason (one cohesive algorithm).
LONG_MODULES: dict[str, str] = {
    "icepaper.diversity.kappa": "one algorithm: the vMF kappa estimators (Banerjee, Newton, debiasing) "
                                "with their bootstrap; ~90 of its lines are doctest examples",
    "icepaper.core.profiles": "mostly data: the three profiles' tables (~300 lines), plus the "
                              "--set checks that need them",
    "icepaper.papers.ko2025": "one paper, as the layout asks: Ko et al. 2025's numbers, the runs that "
                              "combine the chapters, and its claims (with doctests)",
    "icepaper.core.runner": "one job: run the notebooks with papermill, record run.json, resume",
}

MAX_NOTEBOOK_PACKAGES = 4


# --------------------------------------------------------------------------- the import graph


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _known(name: str) -> str | None:
    """``name`` or its nearest parent that is a module of icepaper (None outside icepaper)."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(tree: ast.AST, base: str, is_package: bool) -> set[str]:
    """icepaper modules imported anywhere in ``tree`` (module ``base``), functions included.

    ``from pkg import name`` counts as an import of the submodule ``pkg.name`` when there is
    one, else of ``pkg`` itself; ``import a.b.c`` as an import of ``a.b.c``.
    """
    mods = modules()
    package = base if is_package else base.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "icepaper" and (m := _known(alias.name)):
                    out.add(m)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                origin = package
                for _ in range(node.level - 1):
                    origin = origin.rpartition(".")[0]
                origin = f"{origin}.{node.module}" if node.module else origin
            else:
                origin = node.module or ""
            if origin.split(".")[0] != "icepaper":
                continue
            for alias in node.names:
                sub = f"{origin}.{alias.name}"
                m = sub if sub in mods else _known(origin)
                if m:
                    out.add(m)
    out.discard(base)
    return out


@cache
def import_graph() -> dict[str, frozenset[str]]:
    graph = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = frozenset(imports_of(tree, name, path.name == "__init__.py"))
    return graph


def find_cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """One cycle (a list of modules, first == last) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)

    cycles = []
    for comp in components:  # shortest path from the first module back to itself, inside comp
        members, start = set(comp), comp[0]
        prev: dict[str, str] = {}
        frontier, seen = [start], {start}
        while frontier and start not in prev:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & members):
                    if w == start and start not in prev:
                        prev[start] = v
                    elif w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        path, v = [start], prev[start]
        while v != start:
            path.append(v)
            v = prev[v]
        cycles.append([start, *reversed(path[1:]), start])
    return cycles


def package_of(module: str) -> str:
    """``icepaper.data.packed`` -> ``data``; ``icepaper.augment`` -> ``augment``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


LEVEL = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def layering_violations(graph: dict[str, frozenset[str]]) -> list[str]:
    bad = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            p, q = package_of(src), package_of(dst)
            if src in TOP_MODULES:
                if q != TOP_MODULES[src]:
                    bad.append(f"{src} -> {dst}: the top level may import {TOP_MODULES[src]} only")
                continue
            if p not in LEVEL:
                bad.append(f"{src}: package {p!r} is in no layer of LAYERS")
                continue
            if p == q:
                continue
            if q not in LEVEL:
                bad.append(f"{src} -> {dst}: {dst} is in no layer (import from its package instead)")
            elif LEVEL[q] >= LEVEL[p] and (src, q) not in ALLOWED_UP:
                bad.append(f"{src} -> {dst}: {p} may not import {q}")
    return sorted(set(bad))


# --------------------------------------------------------------------------- tests


def test_import_graph_sees_lazy_and_relative_imports():
    code = ("import numpy\nfrom . import ddp\n"
            "def f():\n    from ..core.cache import key_hash\n    import icepaper.core.paths\n"
            "    from icepaper.core import seeding, cache_path_that_is_no_module\n")
    assert imports_of(ast.parse(code), "icepaper.ssl.pretrain", False) == {
        "icepaper.ssl.ddp", "icepaper.core.cache", "icepaper.core.paths", "icepaper.core.seeding",
        "icepaper.core"}
    assert imports_of(ast.parse("from .cache import key_hash"), "icepaper.core", True) == {"icepaper.core.cache"}
    assert find_cycles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}),
                        "d": frozenset({"a"})}) == [["a", "b", "c", "a"]]


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (imports inside functions included):\n" + "\n".join(
        " -> ".join(c) for c in cycles)


def test_packages_import_only_earlier_layers():
    bad = layering_violations(import_graph())
    order = " -> ".join(", ".join(layer) for layer in LAYERS)
    assert not bad, f"{len(bad)} imports against the layering ({order}):\n" + "\n".join(bad)


def test_allowed_exceptions_are_still_needed():
    graph = import_graph()
    used = {(src, package_of(dst)) for src, targets in graph.items() for dst in targets}
    stale = [pair for pair in ALLOWED_UP if pair not in used]
    assert not stale, f"ALLOWED_UP entries no module needs any more: {stale}"


def test_modules_are_short():
    long = {}
    for name, path in modules().items():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES and name not in LONG_MODULES:
            long[name] = n
    assert not long, (f"modules over {MAX_LINES} lines (split them by job, or add them to "
                      "LONG_MODULES with a reason): "
                      + ", ".join(f"{k} ({v})" for k, v in sorted(long.items(), key=lambda kv: -kv[1])))
    stale = [m for m in LONG_MODULES if m not in modules()]
    assert not stale, f"LONG_MODULES names modules that do not exist: {stale}"


# --------------------------------------------------------------------------- notebooks


def _notebook_trees(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        # IPython magics and shell lines are no Python: blank them out, keep the line numbers
        src = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())
        yield i, ast.parse(src, filename=f"{path.name} cell {i}")


def notebook_imports(path: Path) -> tuple[set[str], list[str]]:
    """(icepaper packages a notebook imports from, its private imports)."""
    packages, private = set(), []

    def add(module: str, names: list[str], where: str) -> None:
        parts = module.split(".")
        if parts[0] != "icepaper":
            return
        if len(parts) == 1:  # from icepaper import augment, setup
            for n in names:
                if (PKG / n).is_dir() or (PKG / f"{n}.py").exists():
                    packages.add(n)
        else:
            packages.add(parts[1])
        for n in parts[1:] + names:
            if n.startswith("_") and not (n.startswith("__") and n.endswith("__")):
                private.append(f"{where}: {'.'.join(parts)} {n}")

    for i, tree in _notebook_trees(path):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name, [], f"cell {i}")
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                add(node.module, [a.name for a in node.names], f"cell {i}")
    return packages, private


def test_notebooks_use_public_api_of_few_packages():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    bad = []
    for nb in notebooks:
        packages, private = notebook_imports(nb)
        if private:
            bad.append(f"{nb.name} imports private names: {private}")
        if len(packages) > MAX_NOTEBOOK_PACKAGES:
            bad.append(f"{nb.name} imports from {len(packages)} icepaper packages "
                       f"(at most {MAX_NOTEBOOK_PACKAGES}): {sorted(packages)}")
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------- README


def readme_tree() -> set[str]:
    """The package folders named in the tree of README.md's "## Architecture" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^## Architecture\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert m, 'README.md has no "## Architecture" section'
    block = re.search(r"```\n(src/icepaper/\n.*?)```", m.group(1), flags=re.S)
    assert block, "the Architecture section has no ``` block starting with src/icepaper/"
    return set(re.findall(r"^[│ ]*[├└]── (\w+)/", block.group(1), flags=re.M))


def test_readme_tree_matches_packages():
    on_disk = {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()}
    in_readme = readme_tree()
    assert in_readme == on_disk, (f"in README.md's tree but not a package folder: "
                                  f"{sorted(in_readme - on_disk)}; package folders missing from "
                                  f"the tree: {sorted(on_disk - in_readme)}")
    assert set(LEVEL) >= on_disk, f"packages in no layer of LAYERS: {sorted(on_disk - set(LEVEL))}"


def test_plots_return_figures_and_only_the_config_saves_them():
    """One plot pattern: a plot function takes data (and optionally ``ax``) and returns the
    matplotlib Figure; only ``RunConfig.save_figure`` writes files, and nothing calls
    ``plt.show`` (executed notebooks show the returned figure)."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).as_posix()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                if name == "show" or (name == "savefig" and rel != "src/icepaper/core/config.py"):
                    bad.append(f"{rel}:{node.lineno}: {ast.unparse(node.func)}()")
            if (isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
                    and path.name in ("plots.py", "figures.py")):
                rets = [r for r in ast.walk(node) if isinstance(r, ast.Return)]
                if node.name != "montage" and not rets:
                    bad.append(f"{rel}:{node.lineno}: {node.name} returns nothing (return the Figure)")
    assert not bad, "plot functions must return their Figure and never save or show it:\n" + "\n".join(bad)
