"""Smaller rooms: no module in core/, dashboard/ or api/ is longer than 450 lines (issue 13, item 5).

Past that length the modules of this code base were mixing concerns (a page's layout, its figure
builders and its job plumbing in one file), so a module that grows past it is split by concern,
not trimmed. The failure names every file over the limit with its length, longest first.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "dashboard", "api")
MAX_LINES = 450


def too_long(root: Path, packages: tuple[str, ...] = PACKAGES, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(path relative to `root`, lines) of every .py file under `packages` longer than `limit`, longest first."""
    found = []
    for package in packages:
        for path in (root / package).rglob("*.py"):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > limit:
                found.append((path.relative_to(root).as_posix(), lines))
    return sorted(found, key=lambda item: (-item[1], item[0]))


def test_the_check_names_each_long_file_and_its_length(tmp_path):
    (tmp_path / "core" / "deep").mkdir(parents=True)
    (tmp_path / "api").mkdir()
    (tmp_path / "core" / "deep" / "long.py").write_text("x = 1\n" * 452)
    (tmp_path / "core" / "at_limit.py").write_text("x = 1\n" * 450)
    (tmp_path / "api" / "longer.py").write_text("x = 1\n" * 500 + "y = 2")  # no final newline: still a line
    (tmp_path / "api" / "notes.txt").write_text("x\n" * 900)  # not a module
    assert too_long(tmp_path) == [("api/longer.py", 501), ("core/deep/long.py", 452)]


def test_no_module_is_longer_than_450_lines():
    long = too_long(ROOT)
    assert not long, f"modules longer than {MAX_LINES} lines (split them by concern): " + ", ".join(
        f"{path} ({lines})" for path, lines in long)
