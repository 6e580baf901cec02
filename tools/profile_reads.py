#!/usr/bin/env python3
"""Which profile keys does the code read? A static check (standard library only).

    python tools/profile_reads.py            # prints every section.key no code reads; exit 1 if any

A profile key is *read* when ``src/icepaper`` (``core/profiles.py``, where the keys are
defined, aside) or a notebook's code cells look it up on a value that holds that profile
section:

* ``section["key"]``, ``section.get("key")``, ``getattr(section, "key")``, ``section.key``;
* a lookup inside a function the section is passed to (``hparam(s, "drop_path")``,
  ``_get(s, arch)`` with ``arch="resnet"`` at a call site);
* ``Params.from_section(section)``: the fields of the dataclass ``Params``.

Values that hold a section are followed from ``<anything>.profile.<section>`` (or
``getattr(<anything>, "profile")``) through assignments, ``dict(...)`` copies, ``{**section}``
merges, function returns (tuples element by element) and call arguments (by position and by
keyword), across modules and notebooks, until nothing changes. Key expressions may be string
literals, f-strings (expanded when their parts are known strings, else matched as a pattern),
names bound to string literals (also parameters, from their call sites) and subscripts of a
module-level dict of strings (``STEPS_KEY[method]``).

Calls are resolved by name and every name is tracked per function, so the check errs towards
"read": a key counts as read if *some* path could read it. A key reported unread is read by no
lookup of its section anywhere (or by a pattern this check does not follow: add it here).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "@profile"  # marks a value that holds the whole profile (``cfg.profile``)
MAPPING_ATTRS = {"get", "keys", "items", "values", "copy", "name", "overrides", "as_dict"}


def code_units(root: Path = ROOT) -> dict[str, str]:
    """Source of every module of ``src/icepaper`` (but ``core/profiles.py``) and the code cells of
    every notebook (magics left out), by path relative to ``root``."""
    units = {}
    for f in sorted((root / "src" / "icepaper").rglob("*.py")):
        if f.relative_to(root).as_posix() != "src/icepaper/core/profiles.py":
            units[f.relative_to(root).as_posix()] = f.read_text(encoding="utf-8")
    for f in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(f.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        lines = [ln for cell in code for ln in cell.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        units[f.relative_to(root).as_posix()] = "\n".join(lines)
    return units


class _Scope:
    """A module or a function: its parameters and what each of its names may hold."""

    def __init__(self, unit: str, node: ast.AST, parent: _Scope | None, params: list[str]):
        self.unit, self.node, self.parent, self.params = unit, node, parent, params
        self.sections: dict[str, set[str]] = defaultdict(set)  # name -> sections it may hold
        self.strings: dict[str, set] = defaultdict(set)  # name -> strings (or patterns) it may hold
        self.ret: set[str] = set()  # sections the function may return
        self.ret_at: dict[int, set[str]] = defaultdict(set)  # ... at position i of a returned tuple
        self.nodes: list[ast.AST] = []  # the nodes that belong to it, not to a function inside it

    def lookup(self, table: str, name: str) -> set:
        s: _Scope | None = self
        while s is not None:
            if name in getattr(s, table):
                return getattr(s, table)[name]
            s = s.parent
        return set()


_FLOW = (ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.comprehension, ast.Return, ast.Call)


class ProfileReads:
    """The (section, key) lookups of ``units`` (path -> source) on values holding a section."""

    def __init__(self, units: Mapping[str, str], sections: Iterable[str]):
        self.section_names = set(sections)
        self.scopes: list[_Scope] = []
        self.defs: dict[str, list[tuple[_Scope, int]]] = defaultdict(list)  # callee name -> (scope, skipped params)
        self.fields: dict[str, list[str]] = {}  # dataclass name -> field names
        self.string_dicts: dict[str, set[str]] = defaultdict(set)  # module-level dict of strings -> values
        self.string_attrs: dict[str, set[str]] = defaultdict(set)  # class attribute -> its string values
        self.reads: set[tuple[str, object]] = set()
        self.where: dict[tuple[str, object], set[str]] = defaultdict(set)  # lookup -> unit:line
        self._patterns = False
        for unit, text in units.items():
            self._index(unit, ast.parse(text, filename=unit))
        flows = {id(s): [n for n in s.nodes if isinstance(n, _FLOW)] for s in self.scopes}
        self.passes = 0
        # to a fixed point, first with known strings only, then letting f-strings with unknown
        # parts become patterns (so that a part known only after a later pass stays exact)
        for self._patterns in (False, True):
            while self.passes < 100:
                before = self._size()
                self.passes += 1
                for scope in self.scopes:
                    self._flow(scope, flows[id(scope)])
                if self._size() == before:
                    break
        for scope in self.scopes:
            self._collect(scope)

    # ------------------------------------------------------------------ indexing
    def _index(self, unit: str, tree: ast.Module) -> None:
        module = _Scope(unit, tree, None, [])
        self.scopes.append(module)

        def visit(node: ast.AST, parent: _Scope, in_class: str | None) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    a = child.args
                    params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
                    scope = _Scope(unit, child, parent, params)
                    self.scopes.append(scope)
                    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in child.decorator_list)
                    skip = int(in_class is not None and not static)
                    self.defs[child.name].append((scope, skip))
                    if in_class and child.name == "__init__":
                        self.defs[in_class].append((scope, 1))
                    visit(child, scope, None)
                    continue
                parent.nodes.append(child)
                if isinstance(child, ast.ClassDef):
                    names = [s.target.id for s in child.body
                             if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
                    if names:
                        self.fields[child.name] = names
                    for stmt in child.body:  # prefix = "moco": self.prefix may be any class's string
                        if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
                                and isinstance(stmt.value.value, str)):
                            for t in stmt.targets:
                                if isinstance(t, ast.Name):
                                    self.string_attrs[t.id].add(stmt.value.value)
                    visit(child, parent, child.name)
                else:
                    visit(child, parent, in_class)

        visit(tree, module, None)
        for stmt in tree.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Dict):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                values = {v.value for v in stmt.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
                for t in targets:
                    if isinstance(t, ast.Name) and values:
                        self.string_dicts[t.id] |= values

    def _size(self) -> int:
        return sum(sum(map(len, s.sections.values())) + sum(map(len, s.strings.values())) + len(s.ret)
                   + sum(map(len, s.ret_at.values())) for s in self.scopes)

    # ------------------------------------------------------------------ what an expression holds
    def sections_of(self, e: ast.AST | None, scope: _Scope) -> set[str]:
        """Sections (or PROFILE) the value of ``e`` may be."""
        if e is None:
            return set()
        if isinstance(e, ast.Attribute):
            if e.attr == "profile":
                return {PROFILE}
            if e.attr in self.section_names and PROFILE in self.sections_of(e.value, scope):
                return {e.attr}
            return set()
        if isinstance(e, ast.Name):
            return set(scope.lookup("sections", e.id))
        if isinstance(e, ast.Subscript):
            if PROFILE in self.sections_of(e.value, scope):
                return {k for k in self.keys_of(e.slice, scope) if k in self.section_names}
            return set()
        if isinstance(e, ast.Dict):  # {**section, "key": value}
            return set().union(*(self.sections_of(v, scope) for k, v in zip(e.keys, e.values) if k is None))
        if isinstance(e, ast.IfExp):
            return self.sections_of(e.body, scope) | self.sections_of(e.orelse, scope)
        if isinstance(e, ast.BoolOp):
            return set().union(*(self.sections_of(v, scope) for v in e.values))
        if isinstance(e, ast.NamedExpr):
            return self.sections_of(e.value, scope)
        if isinstance(e, ast.Call):
            f = e.func
            if isinstance(f, ast.Name) and f.id == "dict" and e.args:
                return self.sections_of(e.args[0], scope)
            if isinstance(f, ast.Name) and f.id == "getattr" and len(e.args) >= 2:
                base, keys = self.sections_of(e.args[0], scope), self.keys_of(e.args[1], scope)
                out = self.sections_of(e.args[2], scope) if len(e.args) > 2 else set()
                if "profile" in keys:
                    out.add(PROFILE)
                if PROFILE in base:
                    out |= {k for k in keys if k in self.section_names}
                return out
            return set().union(*(callee.ret for callee, _ in self._callees(f)))
        return set()

    def keys_of(self, e: ast.AST | None, scope: _Scope) -> set:
        """Strings (or compiled patterns) the value of ``e`` may be."""
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return {e.value}
        if isinstance(e, ast.Name):
            return set(scope.lookup("strings", e.id))
        if isinstance(e, ast.IfExp):
            return self.keys_of(e.body, scope) | self.keys_of(e.orelse, scope)
        if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id in ("self", "cls"):
            return set(self.string_attrs.get(e.attr, ()))
        if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name) and e.value.id in self.string_dicts:
            return set(self.string_dicts[e.value.id])
        if isinstance(e, ast.JoinedStr):
            parts: list[set[str] | None] = []
            for v in e.values:
                if isinstance(v, ast.Constant):
                    parts.append({str(v.value)})
                else:
                    known = self.keys_of(v.value, scope)
                    parts.append(known if known and all(isinstance(k, str) for k in known) else None)
            if all(p is not None for p in parts):
                out = {""}
                for p in parts:
                    out = {a + b for a in out for b in p}
                return out
            if not self._patterns:
                return set()
            return {re.compile("".join(".+" if p is None else "(?:" + "|".join(map(re.escape, p)) + ")"
                                       for p in parts))}
        return set()

    def _callees(self, f: ast.AST) -> list[tuple[_Scope, int]]:
        if isinstance(f, ast.Name):
            return [(s, k) for s, k in self.defs.get(f.id, []) if not (k and s.node.name != "__init__")]
        if isinstance(f, ast.Attribute):
            return self.defs.get(f.attr, [])
        return []

    # ------------------------------------------------------------------ propagation
    def _bind(self, target: ast.AST, value: ast.AST, scope: _Scope) -> None:
        if isinstance(target, ast.Name):
            scope.sections[target.id] |= self.sections_of(value, scope)
            scope.strings[target.id] |= self.keys_of(value, scope)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                for t, v in zip(target.elts, value.elts):
                    self._bind(t, v, scope)
            elif isinstance(value, ast.Call):
                for i, t in enumerate(target.elts):
                    if isinstance(t, ast.Name):
                        for callee, _ in self._callees(value.func):
                            scope.sections[t.id] |= callee.ret_at.get(i, set())

    def _iterate(self, target: ast.AST, it: ast.AST, scope: _Scope) -> None:
        """``for target in it``: a loop over string literals binds the strings."""
        if isinstance(target, ast.Name) and isinstance(it, (ast.Tuple, ast.List, ast.Set)):
            for v in it.elts:
                scope.strings[target.id] |= self.keys_of(v, scope)

    def _flow(self, scope: _Scope, nodes: list[ast.AST]) -> None:
        for n in nodes:
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    self._bind(t, n.value, scope)
            elif isinstance(n, (ast.AnnAssign, ast.NamedExpr)) and n.value is not None:
                self._bind(n.target, n.value, scope)
            elif isinstance(n, (ast.For, ast.comprehension)):
                self._iterate(n.target, n.iter, scope)
            elif isinstance(n, ast.Return) and n.value is not None:
                if isinstance(n.value, ast.Tuple):
                    for i, v in enumerate(n.value.elts):
                        scope.ret_at[i] |= self.sections_of(v, scope)
                else:
                    scope.ret |= self.sections_of(n.value, scope)
            elif isinstance(n, ast.Call):
                for callee, skip in self._callees(n.func):
                    bound = [(callee.params[i + skip], a) for i, a in enumerate(n.args)
                             if not isinstance(a, ast.Starred) and i + skip < len(callee.params)]
                    bound += [(k.arg, k.value) for k in n.keywords if k.arg in callee.params]
                    for param, arg in bound:
                        callee.sections[param] |= self.sections_of(arg, scope)
                        callee.strings[param] |= self.keys_of(arg, scope)

    # ------------------------------------------------------------------ lookups
    def _read(self, holder: ast.AST, keys: Iterable, scope: _Scope) -> None:
        for s in self.sections_of(holder, scope) - {PROFILE}:
            for k in keys:
                self.reads.add((s, k))
                self.where[(s, k)].add(f"{scope.unit}:{getattr(holder, 'lineno', '?')}")

    def _collect(self, scope: _Scope) -> None:
        for n in scope.nodes:
            if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load):
                self._read(n.value, self.keys_of(n.slice, scope), scope)
            elif isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load) and n.attr not in MAPPING_ATTRS:
                self._read(n.value, {n.attr}, scope)
            elif isinstance(n, ast.Call):
                f = n.func
                if isinstance(f, ast.Attribute) and f.attr == "get" and n.args:
                    self._read(f.value, self.keys_of(n.args[0], scope), scope)
                elif isinstance(f, ast.Name) and f.id == "getattr" and len(n.args) >= 2:
                    self._read(n.args[0], self.keys_of(n.args[1], scope), scope)
                elif (isinstance(f, ast.Attribute) and f.attr == "from_section" and isinstance(f.value, ast.Name)
                      and n.args and f.value.id in self.fields):
                    self._read(n.args[0], self.fields[f.value.id], scope)
                for k in n.keywords:  # f(**section): the callee's parameters of those names
                    if k.arg is None:
                        params = {p for callee, _ in self._callees(f) for p in callee.params}
                        self._read(k.value, params, scope)

    def is_read(self, section: str, key: str) -> bool:
        """Whether some lookup reads ``section.key`` (a literal, or a pattern matching it)."""
        return any(s == section and (k == key or (isinstance(k, re.Pattern) and k.fullmatch(key)))
                   for s, k in self.reads)


def unread_keys(profiles: Mapping[str, Mapping[str, Mapping]], units: Mapping[str, str] | None = None
                ) -> list[str]:
    """``section.key`` of every key of ``profiles`` that no code reads (sorted)."""
    sections = {s for p in profiles.values() for s in p}
    reads = ProfileReads(code_units() if units is None else units, sections)
    keys = {(s, k) for p in profiles.values() for s, sec in p.items() for k in sec}
    return sorted(f"{s}.{k}" for s, k in keys if not reads.is_read(s, k))


def main() -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from icepaper.core.profiles import PROFILES

    unread = unread_keys(PROFILES)
    for name in unread:
        print(f"{name}: no code reads this profile key")
    return 1 if unread else 0


if __name__ == "__main__":
    sys.exit(main())
