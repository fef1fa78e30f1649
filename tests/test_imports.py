"""The house rules on imports, read from the source.

The import graph of numbaconv's modules (function-local imports included,
third-party imports left out) must have no circle; no module may import an
underscore name that another module defines; the API imports no backend;
and nothing in the library imports the tools tier.
"""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "numbaconv"
PACKAGE = "numbaconv"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (its ``from`` part)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(modules: dict):
    """``(importer, imported module, names)`` for every numbaconv-internal import."""
    out = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        out.append((name, alias.name, ()))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, is_package, node)
                if target.split(".")[0] != PACKAGE:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:           # `from . import _gpu`: a module
                        out.append((name, sub, ()))
                    else:                        # `from ._gpu import ops`: a name
                        out.append((name, target, (alias.name,)))
    return out


MODULES = _modules()
IMPORTS = _imports(MODULES)


def _graph():
    graph = {name: set() for name in MODULES}
    for src, dst, _ in IMPORTS:
        if dst in MODULES and dst != src:
            graph[src].add(dst)
    return graph


def _cycle(graph):
    """One import circle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_source_is_read():
    """The reader sees the modules and imports it must judge (guards the tests below)."""
    assert {"numbaconv._api", "numbaconv._dispatch", "numbaconv._backends.cpu_direct",
            "numbaconv._kernels.blocks"} <= set(MODULES)
    assert ("numbaconv._api", "numbaconv._dispatch", ()) in IMPORTS
    assert any(src == "numbaconv._backends.cpu_direct" and dst == "numbaconv._kernels.blocks"
               for src, dst, _ in IMPORTS)


def test_no_import_circle():
    circle = _cycle(_graph())
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_circle_finder_finds_circles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_name_from_another_module():
    private = [f"{src} imports {dst}.{n}" for src, dst, names in IMPORTS for n in names
               if n.startswith("_") and not n.startswith("__") and dst != src]
    assert not private, "\n".join(private)


@pytest.mark.parametrize("module", ["numbaconv._api", "numbaconv._inputs", "numbaconv._plans",
                                    "numbaconv._arrays"])
def test_the_api_imports_no_backend(module):
    backends = [dst for src, dst, _ in IMPORTS
                if src == module and dst.startswith("numbaconv._backends")]
    assert not backends, f"{module} imports {backends}"


def test_only_entry_points_import_the_tools():
    allowed = ("numbaconv._tools", "numbaconv.cli", "numbaconv")
    leaks = [f"{src} imports {dst}" for src, dst, _ in IMPORTS
             if dst.startswith("numbaconv._tools")
             and not (src == "numbaconv" or src == "numbaconv.cli" or src.startswith(allowed[0]))]
    assert not leaks, "\n".join(leaks)


def test_subpackages_load_on_first_touch():
    """``numbaconv.nn`` works after ``import numbaconv`` (as ``scipy.signal`` does), and
    neither it nor Dask is imported before it is touched."""
    code = ("import sys, numbaconv\n"
            "assert 'numbaconv.nn' not in sys.modules and 'dask' not in sys.modules\n"
            "import numpy as np\n"
            "y = numbaconv.nn.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 3)))\n"
            "assert y.tolist() == [[[3.0, 3.0, 3.0]]], y\n"
            "assert 'nn' in dir(numbaconv) and 'dask' in dir(numbaconv)\n"
            "try:\n"
            "    numbaconv.no_such_name\n"
            "except AttributeError as exc:\n"
            "    assert 'no_such_name' in str(exc)\n"
            "else:\n"
            "    raise SystemExit('no AttributeError')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
