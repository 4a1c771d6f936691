"""Imports point one way (/work/shared/ARCHITECTURE.md): data <- rewards <- eval <- sft <- rl, and nothing below
launch/ imports it. Every .py file of those packages is parsed with `ast` and every import anywhere in it counts
(module level, inside functions, relative, and `importlib.import_module` / `__import__` of a literal name).
launch/, bench/ and tests/ may import anything."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("data", "rewards", "eval", "sft", "rl", "launch", "bench", "tests")
# package -> the packages of ours it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "data": frozenset(),
    "rewards": frozenset({"data"}),
    "eval": frozenset({"data", "rewards"}),
    "sft": frozenset({"data", "rewards", "eval"}),
    "rl": frozenset({"data", "rewards", "eval", "sft"}),
}


def imported_modules(source: str, module_parts: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """`(line, dotted module name)` for every import in `source`, a file whose dotted name is `module_parts`
    (relative imports resolved against its package)."""
    package = module_parts[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else ()
                if node.module:
                    yield node.lineno, ".".join([*base, node.module])
                else:  # `from . import name`: each name is a module of that package (or one of its attributes)
                    for alias in node.names:
                        yield node.lineno, ".".join([*base, alias.name])
            else:
                yield node.lineno, str(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def forbidden_edges(root: Path, allowed: Mapping[str, frozenset[str]] = ALLOWED) -> list[str]:
    """`path:line: package -> module` for every import under `root` that the graph forbids."""
    found = []
    for package, may_import in allowed.items():
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            parts = rel.with_suffix("").parts
            for line, module in imported_modules(path.read_text(encoding="utf-8"), parts):
                top = module.split(".")[0]
                if top in OURS and top != package and top not in may_import:
                    found.append(f"{rel.as_posix()}:{line}: {package} -> {module}")
    return found


def test_packages_import_only_downwards():
    scanned = {p: len(list((ROOT / p).rglob("*.py"))) for p in ALLOWED}
    assert all(scanned.values()), f"a package has no source files to check: {scanned}"
    edges = forbidden_edges(ROOT)
    assert not edges, (
        "forbidden imports (allowed: " + str({k: sorted(v) for k, v in ALLOWED.items()}) + "):\n" + ("\n".join(edges))
    )


def test_checker_names_file_line_and_edge_of_planted_bad_imports(tmp_path):
    files = {
        "data/a.py": "import json\n\n\ndef f():\n    import rl.train\n",
        "rewards/b.py": "from . import c\nfrom .c import x\n",
        "eval/c.py": "import importlib\n\nmod = importlib.import_module('sft.train')\n",
        "sft/teachers/d.py": "def f():\n    from launch.config_check import CONF_DIR\n    from rl import vllm_guard\n",
        "rl/e.py": "from sft.checkpoints import last_checkpoint\nfrom data.atomic_io import write_text_atomic\n",
        "rl/f.py": "from launch import stages\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert forbidden_edges(tmp_path) == [
        "data/a.py:5: data -> rl.train",
        "eval/c.py:3: eval -> sft.train",
        "sft/teachers/d.py:2: sft -> launch.config_check",
        "sft/teachers/d.py:3: sft -> rl",
        "rl/f.py:1: rl -> launch",
    ]


def test_relative_imports_resolve_against_their_package():
    assert list(imported_modules("from . import x\nfrom ..data import y\n", ("sft", "teachers", "m"))) == [
        (1, "sft.teachers.x"),
        (2, "sft.data"),
    ]
    assert list(imported_modules("from .. import launch\n", ("rl", "m"))) == [(1, "launch")]
