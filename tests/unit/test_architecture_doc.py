"""docs/ARCHITECTURE.md stays true: what it names exists, and the layer rules it states hold.

A design document rots silently: a module moves, a function is renamed, an import crosses a layer,
and the document still reads well. This reads every backticked path, dotted name, class or constant,
test name, component id and environment variable in it and checks each against the tree (by syntax,
so no module is imported and no Dash page is registered), and checks the import directions, the SQL
rule and the package-init cycle the document states.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("core", "dashboard", "api")

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_TICKED = re.compile(r"`([^`]+)`")
_DOTTED = re.compile(r"^(core|dashboard|api|app|worker)(\.[A-Za-z_]\w*)+$")
_PATH = re.compile(r"^[\w.<>-]+(/[\w.<>-]*)+$|^[\w-]+\.(py|md|json|toml|ini|txt)$")
_PLACEHOLDER = re.compile(r"<\w+>|\bNN|NN_")
_COMPONENT_ID = re.compile(r"^[a-z]+(-[a-z]+)+$")
_TASK_NAME = re.compile(r"^digicadence\.[a-z_.]+$")
_ENV_VAR = re.compile(r"^[A-Z][A-Z0-9_]+$")
_TEST_NAME = re.compile(r"^test_\w+$")
_CLASS_OR_CONSTANT = re.compile(r"^[A-Z]\w*(\.[a-z_]\w*)?$")  # `ImportLimits`, `WATCHED`, `Config.import_limits`


# ------------------------------------------------------------------------------------------------ the document


@functools.cache
def _tree(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once per run (the checks below ask for the same files often)."""
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def ticked(text: str) -> list[str]:
    """Inline code spans outside fenced blocks (the diagram is a picture, not a list of names)."""
    return [t.strip() for t in _TICKED.findall(_FENCE.sub("", text))]


def missing_path(token: str, root: Path = ROOT) -> str | None:
    """Why `token` (a repository path, maybe with a `<name>` or `00NN` placeholder) names nothing, or None."""
    if _PLACEHOLDER.search(token):  # a file to create: the folder it goes in must exist
        head = token[: _PLACEHOLDER.search(token).start()]
        folder = root / head.rpartition("/")[0]
        return None if folder.is_dir() else f"{token}: no folder {folder.relative_to(root)}"
    return None if (root / token.rstrip("/")).exists() else f"{token}: no such file or folder"


def _module_file(parts: list[str], root: Path) -> Path | None:
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _defined(body: list[ast.stmt] | ast.AST, name: str, *, deep: bool) -> ast.AST | None:
    """The node that binds `name` in `body` (at any depth when `deep`): def, class, assignment or import."""
    nodes = ast.walk(body) if deep else iter(body)
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return node
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node
        if isinstance(node, ast.ImportFrom | ast.Import):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    return node
    return None


def missing_name(dotted: str, root: Path = ROOT, _depth: int = 0) -> str | None:
    """Why `dotted` (module path, then names: `core.jobs.queue.submit`, `core.db.Database.upgrade`) names nothing."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        path = _module_file(parts[:cut], root)
        if path is not None:
            break
    else:
        return f"{dotted}: no module"
    names = parts[cut:]
    if not names:
        return None
    tree = _tree(path)
    node = _defined(tree, names[0], deep=True)
    if node is None:
        return f"{dotted}: {names[0]} is not defined in {path.relative_to(root)}"
    if isinstance(node, ast.ImportFrom) and node.module and len(names) > 1 and _depth < 5:
        alias = next(a for a in node.names if (a.asname or a.name) == names[0])
        return missing_name(".".join([node.module, alias.name, *names[1:]]), root, _depth + 1)
    for name in names[1:]:
        inner = _defined(node.body, name, deep=False) if isinstance(node, ast.ClassDef) else None
        if inner is None:
            return f"{dotted}: {name} is not defined in {'.'.join(parts[:cut])}.{names[0]}"
        node = inner
    return None


def _string_literals(where: Path) -> set[str]:
    found: set[str] = set()
    for path in where.rglob("*.py") if where.is_dir() else [where] if where.exists() else []:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def _definitions(root: Path, folders: tuple[str, ...]) -> dict[str, list[ast.AST]]:
    """Name → the defs, classes and assignments that bind it anywhere in `folders`."""
    index: dict[str, list[ast.AST]] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")) if (root / folder).is_dir() else []:
            for node in ast.walk(_tree(path)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    index.setdefault(node.name, []).append(node)
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            index.setdefault(target.id, []).append(node)
    return index


def missing_symbol(token: str, index: dict[str, list[ast.AST]]) -> str | None:
    """Why `Name` or `Class.attribute` names nothing in the code, or None."""
    name, _, attribute = token.partition(".")
    nodes = index.get(name, [])
    if not nodes:
        return f"{token}: {name} is defined nowhere"
    if attribute and not any(isinstance(n, ast.ClassDef) and _defined(n.body, attribute, deep=False) for n in nodes):
        return f"{token}: no class {name} has {attribute}"
    return None


def problems(text: str, root: Path = ROOT) -> list[str]:
    """Everything the document names that the tree does not have."""
    found: list[str] = []
    literals: set[str] | None = None
    code = _definitions(root, (*PACKAGES, "migrations"))
    tests = _definitions(root, ("tests",))
    variables = _string_literals(root / "core" / "config.py")
    for token in ticked(text):
        if " " in token or token.startswith("/"):
            continue  # a call, a route or a command, not a name
        if _PATH.match(token) and not token[0].isupper():
            found.append(missing_path(token, root))
        elif _DOTTED.match(token):
            found.append(missing_name(token, root))
        elif _TEST_NAME.match(token):
            found.append(None if token in tests else f"{token}: no such test")
        elif _ENV_VAR.match(token) and token in variables:
            continue  # an environment variable, read where they all are
        elif _CLASS_OR_CONSTANT.match(token):
            found.append(missing_symbol(token, code))
        elif _COMPONENT_ID.match(token) or _TASK_NAME.match(token):
            if literals is None:
                literals = _string_literals(root / "core") | _string_literals(root / "dashboard")
            found.append(None if token in literals else f"{token}: no component id or task name of that spelling")
    return [p for p in found if p]


def test_the_check_reports_what_does_not_exist(tmp_path: Path) -> None:
    (tmp_path / "core" / "jobs").mkdir(parents=True)
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "jobs" / "queue.py").write_text(
        "from core.db import Database\nclass QueueSettings:\n    def from_env(cls): ...\ndef submit(): ...\n")
    (tmp_path / "core" / "db.py").write_text("class Database:\n    def upgrade(self): ...\n")
    doc = ("`core/jobs/queue.py` `core/jobs/` `core.jobs.queue.submit` `core.jobs.queue.QueueSettings.from_env`"
           " `core.jobs.queue.Database.upgrade` `core/jobs/<name>.py` `POST /api/v1/jobs` `/login`\n"
           "```\n`core/gone.py` in a diagram\n```\n"
           "`core/jobs/gone.py` `core.jobs.queue.resubmit` `core.jobs.queue.QueueSettings.to_env`"
           " `core.jobs.queue.Database.downgrade` `core.gone.thing` `web/<name>.py`"
           " `Database` `QueueSettings.from_env` `Gone` `Database.gone` `test_gone`")
    assert problems(doc, tmp_path) == [
        "core/jobs/gone.py: no such file or folder",
        "core.jobs.queue.resubmit: resubmit is not defined in core/jobs/queue.py",
        "core.jobs.queue.QueueSettings.to_env: to_env is not defined in core.jobs.queue.QueueSettings",
        "core.db.Database.downgrade: downgrade is not defined in core.db.Database",
        "core.gone.thing: gone is not defined in core/__init__.py",
        "web/<name>.py: no folder web",
        "Gone: Gone is defined nowhere",
        "Database.gone: no class Database has gone",
        "test_gone: no such test",
    ]


def test_every_path_and_name_in_the_document_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(ticked(text)) > 100, "the document names too few things: did the extraction break?"
    missing = problems(text)
    assert not missing, "docs/ARCHITECTURE.md names what the tree does not have:\n" + "\n".join(missing)


def test_the_readme_links_it_and_it_stays_short() -> None:
    assert "](docs/ARCHITECTURE.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(DOC.read_text(encoding="utf-8").splitlines()) <= 260, "keep it a map, not a manual"


# ------------------------------------------------------------------------------------------------ the rules


def imported_modules(source: str) -> set[str]:
    """Absolute module names imported anywhere in `source` (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


# Top-level project module → the project modules it may import. Third-party imports are not limited here.
PROJECT = {"core", "dashboard", "api", "app", "worker", "tests", "benchmarks", "migrations", "scripts"}
MAY_IMPORT = {"core": {"core"}, "api": {"api", "core"}, "dashboard": {"dashboard", "core", "api"},
              "app": {"core", "dashboard", "api"}, "worker": {"app", "core"}}
# The one crossing between the web layers: the request gate asks whether a request is the API's.
DASHBOARD_TO_API = {"dashboard/auth/__init__.py": {"api.v1"}}


def layer_violations(root: Path = ROOT) -> list[str]:
    files = [p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    files += [root / f"{name}.py" for name in ("app", "worker") if (root / f"{name}.py").exists()]
    found = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        layer = rel.split("/")[0].removesuffix(".py")
        for module in sorted(imported_modules(path.read_text(encoding="utf-8"))):
            top = module.split(".")[0]
            if top not in PROJECT:
                continue
            if top not in MAY_IMPORT[layer]:
                found.append(f"{rel} imports {module}")
            elif layer == "dashboard" and top == "api" and module not in DASHBOARD_TO_API.get(rel, set()):
                found.append(f"{rel} imports {module} (only the gate in dashboard/auth/__init__.py may)")
    return found


def test_the_layer_check_sees_a_crossing(tmp_path: Path) -> None:
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
    (tmp_path / "core" / "late.py").write_text("def f():\n    from dashboard.access import register_page\n")
    (tmp_path / "api" / "x.py").write_text("import dashboard.shell\nfrom core.db import Database\n")
    (tmp_path / "dashboard" / "p.py").write_text("from api.v1 import PREFIX\nfrom core import config\nimport dash\n")
    assert layer_violations(tmp_path) == [
        "core/late.py imports dashboard.access",
        "dashboard/p.py imports api.v1 (only the gate in dashboard/auth/__init__.py may)",
        "api/x.py imports dashboard.shell"]


def test_layers_import_only_downwards() -> None:
    crossings = layer_violations()
    assert not crossings, "imports against docs/ARCHITECTURE.md's layers:\n" + "\n".join(crossings)


STATEMENTS = {"select", "insert", "update", "delete", "text", "union", "union_all", "exists"}
SQL_EXCEPTIONS = {"dashboard/auth/principal.py"}  # the signed-in user and their grants, read once per request
NO_DATABASE = ("sqlalchemy", "core.db", "core.runtime")


def sql_violations(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted((root / "dashboard").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy") \
                    and rel not in SQL_EXCEPTIONS:
                found += [f"{rel} builds SQL ({a.name})" for a in node.names if a.name in STATEMENTS]
            if isinstance(node, ast.Import) and rel not in SQL_EXCEPTIONS:
                found += [f"{rel} imports {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
        if rel.startswith("dashboard/figures/"):
            found += [f"{rel} reaches the database ({m})" for m in sorted(imported_modules(ast.unparse(tree)))
                      if m.startswith(NO_DATABASE)]
    return found


@pytest.mark.parametrize(("rel", "source", "expected"), [
    ("dashboard/pages/x.py", "from sqlalchemy import select, Connection\n",
     ["dashboard/pages/x.py builds SQL (select)"]),
    ("dashboard/pages/x.py", "import sqlalchemy as sa\n", ["dashboard/pages/x.py imports sqlalchemy"]),
    ("dashboard/pages/x.py", "from sqlalchemy.exc import IntegrityError\n", []),
    ("dashboard/figures/x.py", "from core.runtime import get_db\n", ["dashboard/figures/x.py reaches the database "
                                                                    "(core.runtime)"]),
])
def test_the_sql_check_sees_a_statement(tmp_path: Path, rel: str, source: str, expected: list[str]) -> None:
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_text(source)
    assert sql_violations(tmp_path) == expected


def test_sql_stays_in_core() -> None:
    outside = sql_violations()
    assert not outside, "SQL outside core/ (docs/ARCHITECTURE.md, rule 4):\n" + "\n".join(outside)


def test_no_cycle_through_a_package_init() -> None:
    """tests/unit/test_import_graph.py's walk, plus the edge Python adds: importing `a.b.c` first runs `a.b`'s
    `__init__.py` (ancestors the importer shares are already running, so they add nothing)."""
    from tests.unit.test_import_graph import find_cycles, graph

    edges = graph()

    def packages_above(module: str) -> set[str]:
        parts = module.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    with_inits = {module: targets | {p for t in targets for p in packages_above(t)
                                     if p in edges and p != module and p not in packages_above(module)}
                  for module, targets in edges.items()}
    cycles = find_cycles(with_inits)
    assert not cycles, "import cycles through a package's __init__.py:\n" + "\n".join(" -> ".join(c) for c in cycles)
