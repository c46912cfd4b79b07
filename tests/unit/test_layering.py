"""The package's layering, read from the source with ``ast`` (no import needed, so a cycle cannot hide):

- no import cycles among gliograde modules, imports inside functions included (those under
  ``if TYPE_CHECKING:`` are left out: they never run);
- the library never imports ``gliograde.cli`` (the top layer: it turns argv into plain values) nor ``argparse``;
- no module switches matplotlib's backend (``matplotlib.use``, ``switch_backend``) or draws through pyplot's
  global state (that importing any module leaves a notebook's backend as it was is checked in a subprocess by
  tests/integration/test_matplotlib_backend.py);
- the report package imports no ``_private`` name of another module.

Edges follow ``../shared/tools/import_cycles.py``: ``from a.b import c`` is an edge to ``a.b`` and, when it is a
module, to ``a.b.c``; ``import a.b.c`` is an edge to ``a.b.c`` only (not to the parent packages' ``__init__``).
"""
from __future__ import annotations

import ast
import io
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PKG = "gliograde"
ENTRY_POINTS = {"gliograde.__main__"}  # `python -m gliograde` runs the CLI: allowed to import it


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: dict[str, int] = field(default_factory=dict)  # target module -> first line, TYPE_CHECKING included
    runtime: set[str] = field(default_factory=set)  # targets imported at run time (not under TYPE_CHECKING)


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def _typing_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    return {id(n) for t in ast.walk(tree) if isinstance(t, ast.If) and "TYPE_CHECKING" in ast.unparse(t.test)
            for b in t.body for n in ast.walk(b)}


def _targets(node: ast.Import | ast.ImportFrom, mod: Module) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative import: resolve against the importing module's package
        parts = mod.name.split(".") if mod.path.name == "__init__.py" else mod.name.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _scan() -> dict[str, Module]:
    mods = {}
    for path in sorted((SRC / PKG).rglob("*.py")):
        name = _module_name(path)
        mods[name] = Module(name, path, ast.parse(path.read_text(), filename=str(path)))
    for mod in mods.values():
        typing_only = _typing_only(mod.tree)
        for node in ast.walk(mod.tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for t in _targets(node, mod):
                if t == "argparse" or t.startswith(("matplotlib", "argparse.")):  # third-party rules below
                    mod.imports.setdefault(t, node.lineno)
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != mod.name and t != PKG:
                    mod.imports.setdefault(t, node.lineno)
                    if id(node) not in typing_only:
                        mod.runtime.add(t)
    return mods


MODULES = _scan()


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _path_in(comp: list[str], edges: dict[str, set[str]]) -> str:
    """One cycle through the component's first module, with the line of each import, for the message."""
    start, members = comp[0], set(comp)
    trail, seen = [start], {start}
    while True:
        nxt = sorted(w for w in edges[trail[-1]] if w in members)
        back = [w for w in nxt if w == start]
        step = back[0] if back and len(trail) > 1 else next((w for w in nxt if w not in seen), start)
        line = MODULES[trail[-1]].imports[step]
        trail[-1] = f"{trail[-1]} (line {line})"
        if step == start:
            return " -> ".join([*trail, start])
        trail.append(step)
        seen.add(step)


def test_the_scan_sees_the_package() -> None:
    """Guards the scan itself: it finds the stage packages and the imports between them."""
    assert {"gliograde.cli", "gliograde.report.cv", "gliograde.config"} <= set(MODULES)
    assert "gliograde.report.figures" in MODULES["gliograde.report.cv"].runtime
    assert not _cycles({"a": {"b"}, "b": {"c"}, "c": set()})
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycles() -> None:
    edges = {name: {t for t in m.runtime if t in MODULES} for name, m in MODULES.items()}
    cycles = _cycles(edges)
    assert not cycles, (f"{len(cycles)} import cycle(s) among gliograde modules (function-level imports count; "
                        "move the shared part into a module both import):\n  "
                        + "\n  ".join(_path_in(c, edges) for c in cycles))


def _library() -> list[Module]:
    return [m for n, m in MODULES.items() if not (n == "gliograde.cli" or n.startswith("gliograde.cli."))
            and n not in ENTRY_POINTS]


def test_library_never_imports_the_cli() -> None:
    bad = [f"{m.path.relative_to(SRC)}:{line} imports {t}" for m in _library() for t, line in m.imports.items()
           if t == "gliograde.cli" or t.startswith("gliograde.cli.")]
    assert not bad, "the CLI is the top layer; the library must not import it:\n  " + "\n  ".join(bad)


def test_library_never_sees_argparse() -> None:
    bad = [f"{m.path.relative_to(SRC)}:{line}" for m in _library() for t, line in m.imports.items()
           if t == "argparse" or t.startswith("argparse.")]
    assert not bad, ("only gliograde.cli turns argv into plain overrides; argparse imported in:\n  "
                     + "\n  ".join(bad))


def _backend_switches(mod: Module) -> list[str]:
    """``matplotlib.use(...)``, ``...switch_backend(...)`` and ``from matplotlib import use``, with lines."""
    found = []
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("matplotlib"):
            found += [f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if a.name in ("use", "switch_backend")]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if node.func.attr == "switch_backend" or (node.func.attr == "use" and ("matplotlib" in owner
                                                                                   or owner == "mpl")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_switches_the_matplotlib_backend() -> None:
    bad = [f"{m.path.relative_to(SRC)} {hit}" for m in MODULES.values() for hit in _backend_switches(m)]
    assert not bad, ("a library leaves the backend to its user (a notebook's inline backend); draw with "
                     "matplotlib.figure.Figure and fig.savefig instead:\n  " + "\n  ".join(bad))


def test_no_module_uses_pyplot() -> None:
    bad = [f"{m.path.relative_to(SRC)}:{line}" for m in MODULES.values() for t, line in m.imports.items()
           if t.startswith("matplotlib.pyplot") or t == "pylab"]
    assert not bad, ("pyplot keeps global figures and picks a backend; use matplotlib.figure.Figure:\n  "
                     + "\n  ".join(bad))


def test_report_package_imports_public_names_only() -> None:
    bad = []
    for m in MODULES.values():
        if not m.name.startswith("gliograde.report"):
            continue
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PKG):
                bad += [f"{m.path.relative_to(SRC)}:{node.lineno} {node.module}.{a.name}" for a in node.names
                        if a.name.startswith("_")]
    assert not bad, "the report modules share public helpers only:\n  " + "\n  ".join(bad)


def _comment_lines(path: Path) -> set[int]:
    return {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
            if tok.type == tokenize.COMMENT}


def _unexplained_lazy_imports(mod: Module) -> list[str]:
    """Runs of consecutive imports inside a function with no comment on their lines or the line above."""
    comments, typing_only, bad = _comment_lines(mod.path), _typing_only(mod.tree), []
    functions = [f for f in ast.walk(mod.tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    blocks = [b for f in functions for node in ast.walk(f) for b in (getattr(node, "body", None),
              getattr(node, "orelse", None), getattr(node, "finalbody", None)) if isinstance(b, list)]
    for body in {id(b): b for b in blocks}.values():
        run: list[ast.stmt] = []
        for st in [*body, None]:
            if isinstance(st, (ast.Import, ast.ImportFrom)) and id(st) not in typing_only:
                run.append(st)
                continue
            if run and not any(run[0].lineno - 1 <= c <= (run[-1].end_lineno or 0) for c in comments):
                bad.append(f"{mod.path.relative_to(SRC)}:{run[0].lineno} {ast.unparse(run[0])}")
            run = []
    return bad


def test_lazy_imports_say_why() -> None:
    """An import inside a library function is for a slow or optional dependency, and a comment says which."""
    bad = sorted(hit for m in _library() for hit in _unexplained_lazy_imports(m))
    assert not bad, (f"{len(bad)} import(s) inside functions without a comment saying why (slow/optional "
                     "dependency); move them to the module top or add the comment:\n  " + "\n  ".join(bad))


def _function_level_imports(mod: Module) -> list[tuple[int, str]]:
    """(line, statement) of each import inside a function body, those under TYPE_CHECKING left out."""
    typing_only = _typing_only(mod.tree)
    functions = [f for f in ast.walk(mod.tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return sorted({(n.lineno, ast.unparse(n)) for f in functions for n in ast.walk(f)
                   if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in typing_only})


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("gliograde.report.")))
def test_report_modules_import_each_other_at_module_top(name: str) -> None:
    """Inside functions the report package imports matplotlib only (slow to import), never a gliograde module."""
    inner = [f"line {line}: {text}" for line, text in _function_level_imports(MODULES[name])
             if not text.startswith(("from matplotlib", "import matplotlib"))]
    assert not inner, f"{name} imports inside functions: {inner}"
