"""The project promises (docs/architecture.md) that ruff and mypy (strict) are clean: hold it to that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_ruff_is_clean() -> None:
    done = run("ruff", "check", "backviz", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean() -> None:
    done = run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


def _module(path: Path) -> str:
    """A file's module name: ``backviz.render.dot`` for backviz/render/dot.py."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The backviz modules a module imports: at the top, inside a function, or for the type
    checker only (``if TYPE_CHECKING:``), which still ties the two modules together."""
    import ast

    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
            if node.module:
                found.add(f"{base}.{node.module}")
            else:
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    """Data flows one way: cli -> tracing -> teach, render -> evaluate -> parse -> graph -> ops.
    A lazy import inside a function, or one for types only, still counts."""
    edges = {_module(p): _imports(p) for p in (ROOT / "backviz").rglob("*.py")}
    for start in edges:
        via = {start: [start]}  # each module reached, and the chain of imports to it
        stack = [start]
        while stack:
            current = stack.pop()
            for module in edges.get(current, ()):
                chain = [*via[current], module]
                assert module != start, "an import cycle: " + " -> ".join(chain)
                if module not in via:
                    via[module] = chain
                    stack.append(module)
