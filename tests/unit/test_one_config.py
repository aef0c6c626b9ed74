"""One config: only core/config.py reads the process environment (issue 13, item 3).

Everything else gets its settings passed in (a `Config`, or a part of one), so a variable has one
reader, one default and one validation. The check reads the code's syntax tree, so comments and
docstrings that name the environment do not count, and `import os as x; x.environ` does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["core", "dashboard", "api", "app.py", "worker.py"]
ALLOWED = {Path("core/config.py")}
_OS_READERS = {"environ", "environb", "getenv", "getenvb"}


def _python_files() -> list[Path]:
    files: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else [])
    return [f for f in files if f.relative_to(ROOT) not in ALLOWED]


def environment_reads(source: str) -> list[tuple[int, str]]:
    """(line, what) for every read of the process environment in `source`."""
    tree = ast.parse(source)
    os_names = {"os"} | {alias.asname for node in ast.walk(tree) if isinstance(node, ast.Import)
                         for alias in node.names if alias.name == "os" and alias.asname}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [(node.lineno, f"from os import {a.name}") for a in node.names if a.name in _OS_READERS]
        elif isinstance(node, ast.Attribute):
            if node.attr in _OS_READERS and isinstance(node.value, ast.Name) and node.value.id in os_names:
                found.append((node.lineno, f"{node.value.id}.{node.attr}"))
            elif node.attr == "get" and (
                    (isinstance(node.value, ast.Name) and node.value.id == "environ")
                    or (isinstance(node.value, ast.Attribute) and node.value.attr == "environ")):
                found.append((node.lineno, "environ.get"))
        elif isinstance(node, ast.Name) and node.id in ("getenv", "environ") and isinstance(node.ctx, ast.Load):
            found.append((node.lineno, node.id))
    return sorted(set(found))


@pytest.mark.parametrize(("source", "expected"), [
    ("import os\nos.environ['A']", [(2, "os.environ")]),
    ("import os\nx = os.environ.get('A')", [(2, "environ.get"), (2, "os.environ")]),
    ("import os as o\no.getenv('A')", [(2, "o.getenv")]),
    ("from os import environ\nenviron.get('A')", [(1, "from os import environ"), (2, "environ"),
                                                 (2, "environ.get")]),
    ("from os import getenv\ngetenv('A')", [(1, "from os import getenv"), (2, "getenv")]),
    ('"""os.environ and getenv in a docstring"""\n# os.environ.get in a comment\nx = "getenv"', []),
    ("def app(request, start):\n    return request.get('PATH_INFO')", []),
])
def test_the_check_sees_reads_and_only_reads(source, expected):
    assert environment_reads(source) == expected


def test_only_core_config_reads_the_environment():
    offenders = {}
    for path in _python_files():
        reads = environment_reads(path.read_text(encoding="utf-8"))
        if reads:
            offenders[str(path.relative_to(ROOT))] = reads
    assert not offenders, (
        "read the environment in core/config.py (the Config dataclass or a part of it) and pass the value in; "
        f"found: {offenders}")
