"""A clone of the repository is all a person has: no file may reach for a sibling `shared` folder.

The sample data sets used to be read from `../shared/data/`, which only existed on the machine the
project was first built on; on a clean clone the import-dataset tests failed under CI=true.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared\b|parents?(\[\d+\])?\s*/\s*[\"']shared[\"']|/work/shared\b")
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "instance",
             "artifacts", "node_modules"}


def repository_files() -> list[Path]:
    """Every file of the working tree outside tooling and run-time folders."""
    this = Path(__file__).resolve()  # it spells the patterns out to test them
    return [p for p in ROOT.rglob("*")
            if p.is_file() and p != this and not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)]


def references_outside(text: str) -> list[str]:
    return [m.group(0) for m in OUTSIDE.finditer(text)]


def test_the_patterns_catch_the_old_references() -> None:
    old = ['DATA = REPO.parent / "shared" / "data"', "Design notes: `../shared/DESIGN.md`.",
           "DATA = Path(__file__).resolve().parents[3].parent / 'shared' / 'data'", "cat /work/shared/x"]
    assert all(references_outside(line) for line in old)
    assert not references_outside("the shared read cache; data/samples/robyn_dt_simulated_weekly.csv")


def test_no_file_refers_to_a_shared_folder_beside_the_repository() -> None:
    files = repository_files()
    assert any(p.name == "README.md" for p in files) and any(p.suffix == ".py" for p in files)
    offenders = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # binary files (images, archives) cannot hold a path we would follow
            continue
        offenders += [f"{path.relative_to(ROOT)}: {hit}" for hit in references_outside(text)]
    assert not offenders, offenders


def test_the_sample_data_sets_ship_with_their_licences() -> None:
    samples = ROOT / "data" / "samples"
    readme = (samples / "README.md").read_text(encoding="utf-8")
    for name, licence in (("robyn_dt_simulated_weekly.csv", "Robyn-MIT.txt"),
                          ("meridian_national_media.csv", "Meridian-Apache-2.0.txt")):
        assert (samples / name).stat().st_size > 10_000
        assert name in readme and licence in readme
    assert "Meta Platforms, Inc. and affiliates" in (samples / "LICENSES" / "Robyn-MIT.txt").read_text()
    apache = (samples / "LICENSES" / "Meridian-Apache-2.0.txt").read_text()
    assert "Google LLC" in apache and "Apache License" in apache and "END OF TERMS AND CONDITIONS" in apache
