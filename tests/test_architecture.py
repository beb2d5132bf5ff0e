"""The project's structure, checked: no import cycles, small modules and functions, clean layering.

These read the source with :mod:`ast` (nothing is imported), so they are fast and
fail with the module, function and line that break a rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("odelayers", "reproduce")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80  # docstring excluded


def _source_files(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py") if ".venv" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module ``path`` imports (top level or inside functions), with the line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = _module_name(path)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = this.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from pkg import sub`` imports pkg.sub when it is a module, else a name of pkg.
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            known = [m for m in submodules if _is_module(m)]
            found += [(m, node.lineno) for m in known] or [(module, node.lineno)]
            found += [(m, node.lineno) for m in submodules if m not in known]
    return found


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in _source_files(*PACKAGES)}


def _import_graph() -> dict[str, set[str]]:
    modules = _project_modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for target, _ in _imports(path):
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = _find_cycle(_import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_by_string():
    """``importlib.import_module`` hides edges from readers and from the cycle check."""
    offenders = [
        f"{p.relative_to(ROOT)}:{line}"
        for p in _source_files(*PACKAGES)
        for module, line in _imports(p)
        if module in ("importlib.import_module",)
    ]
    assert not offenders, offenders


def test_odelayers_never_imports_reproduce():
    offenders = [
        f"{p.relative_to(ROOT)}:{line} imports {module}"
        for p in _source_files("odelayers")
        for module, line in _imports(p)
        if module == "reproduce" or module.startswith("reproduce.")
    ]
    assert not offenders, offenders


def test_only_odelayers_uses_its_private_names():
    offenders = []
    for p in _source_files("reproduce", "benchmarks", "tests"):
        for module, line in _imports(p):
            parts = module.split(".")
            if parts[0] == "odelayers" and any(part.startswith("_") for part in parts[1:]):
                offenders.append(f"{p.relative_to(ROOT)}:{line} imports {module}")
    assert not offenders, offenders


@pytest.mark.parametrize("directory", [*PACKAGES, "benchmarks"])
def test_modules_are_small(directory):
    too_long = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in _source_files(directory)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not too_long, too_long


def _function_lengths(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body = body[1:]
            if body:
                yield node.name, node.lineno, body[-1].end_lineno - body[0].lineno + 1


@pytest.mark.parametrize("directory", [*PACKAGES, "benchmarks"])
def test_functions_are_small(directory):
    too_long = [
        f"{p.relative_to(ROOT)}:{line} {name}: {n} lines"
        for p in _source_files(directory)
        for name, line, n in _function_lengths(p)
        if n > MAX_FUNCTION_LINES
    ]
    assert not too_long, too_long


# What code outside the engine may import of it besides the package's names (the run folder's
# format lives outside it, in reproduce/run_folder.py).
ENGINE_PUBLIC = ()


def test_only_the_engines_public_names_are_used_outside_it():
    import reproduce.engine

    public = [f"reproduce.engine.{name}" for name in reproduce.engine.__all__]
    offenders = [
        f"{p.relative_to(ROOT)}:{line} imports {module}"
        for p in _source_files("reproduce", "benchmarks")
        if "engine" not in p.relative_to(ROOT).parts
        for module, line in _imports(p)
        if module.startswith("reproduce.engine.")
        and not any(
            module == m or module.startswith(m + ".") or m.startswith(module + ".")
            for m in [*public, *ENGINE_PUBLIC]
        )
    ]
    assert not offenders, offenders
