"""An organization's framework as a file (JSON or CSV), out and in, and the `framework-*` commands.

Export: JSON holds the whole tree (sections → platforms → metrics with every field); CSV one row per
metric (section and platform columns repeat), so a section or platform without metrics is only in
the JSON. Text cells are neutralized against spreadsheet formulas.

Import merges a file into the framework as one saved version: a section is found by name, a
platform by section and name, a metric by code; what exists is updated (a metric found elsewhere
moves to the file's platform), what does not is created. Nothing the file leaves out is removed
(removing deletes data and stays an explicit step). Every row is checked first; one bad row and
nothing is written.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.models import Metric, Platform, Section
from core.security.authorizer import authorize
from core.security.permissions import Permission
from core.security.principal import Principal
from core.setup.classification import default_level
from core.setup.cli_common import Usage, database, organization_id
from core.setup.framework import FRAMEWORK_MANAGE, change, framework
from core.setup.framework_rules import FrameworkError, clean_metric, clean_name, clean_weight
from core.setup.framework_weights import apply_template
from core.spreadsheets import FORMULA_TRIGGERS, csv_text

CSV_COLUMNS = ["section", "section_weight", "platform", "platform_weight", "code", "name", "unit", "direction",
               "weight", "description", "min_value", "max_value"]
MAX_ROWS = 5000
METRIC_FIELDS = ("code", "name", "unit", "direction", "weight", "description", "min_value", "max_value")


def export_framework(db: Database, principal: Principal, organization_id: int, fmt: str = "json") -> str:
    """The framework as JSON (the tree) or CSV (one row per metric)."""
    tree = framework(db, principal, organization_id)
    if fmt == "json":
        out = {"version": tree["version"], "sections": [
            {"name": s["name"], "weight": s["weight"], "platforms": [
                {"name": p["name"], "weight": p["weight"],
                 "metrics": [{k: m[k] for k in METRIC_FIELDS} for m in p["metrics"]]}
                for p in s["platforms"]]}
            for s in tree["sections"]]}
        return json.dumps(out, indent=2, ensure_ascii=False)
    rows = [[s["name"], s["weight"], p["name"], p["weight"], *(m[k] for k in METRIC_FIELDS)]
            for s in tree["sections"] for p in s["platforms"] for m in p["metrics"]]
    return csv_text(pd.DataFrame(rows, columns=CSV_COLUMNS))


def _unquote(value: Any) -> Any:
    """Undo the export's formula guard (a leading ' before a formula trigger)."""
    if isinstance(value, str) and value.startswith("'") and value[1:2] and value[1] in FORMULA_TRIGGERS:
        return value[1:]
    return value


def rows_from_file(text: str, fmt: str) -> list[dict]:
    """One dict per metric (section, platform and their weights repeated) from a JSON or CSV export."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FrameworkError(f"The file is not valid JSON (line {exc.lineno}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
            raise FrameworkError("The JSON file needs a list of sections.")
        rows = []
        for s in data["sections"]:
            for p in (s.get("platforms") or []) if isinstance(s, dict) else []:
                for m in (p.get("metrics") or []) if isinstance(p, dict) else []:
                    rows.append({"section": s.get("name"), "section_weight": s.get("weight", 1.0),
                                 "platform": p.get("name"), "platform_weight": p.get("weight", 1.0),
                                 **(m if isinstance(m, dict) else {})})
    else:
        reader = csv.DictReader(io.StringIO(text))
        missing = {"section", "platform", "code", "name"} - set(reader.fieldnames or [])
        if missing:
            raise FrameworkError(f"The CSV file lacks the column(s) {', '.join(sorted(missing))}.")
        rows = [{k: _unquote(v) for k, v in row.items() if k in CSV_COLUMNS} for row in reader]
    if not rows:
        raise FrameworkError("The file holds no metric.")
    if len(rows) > MAX_ROWS:
        raise FrameworkError(f"A framework file can hold at most {MAX_ROWS} metrics.")
    return rows


def _checked(rows: list[dict]) -> list[dict]:
    out, codes = [], set()
    for number, row in enumerate(rows, start=2):
        try:
            fields = {k: row.get(k) for k in METRIC_FIELDS if k in row and row.get(k) not in (None, "")}
            metric = clean_metric({**fields, "code": row.get("code"), "name": row.get("name")})
            item = {"section": clean_name(row.get("section"), "section"),
                    "section_weight": clean_weight(row.get("section_weight") or 1.0, "a section"),
                    "platform": clean_name(row.get("platform"), "platform"),
                    "platform_weight": clean_weight(row.get("platform_weight") or 1.0, "a platform"), "metric": metric}
        except FrameworkError as exc:
            raise FrameworkError(f"Row {number}: {exc}") from None
        if metric["code"].lower() in codes:
            raise FrameworkError(f"Row {number}: the code '{metric['code']}' is in the file twice.")
        codes.add(metric["code"].lower())
        out.append(item)
    return out


def _merge(s: Session, organization_id: int, items: list[dict]) -> dict[str, int]:
    sections = {x.name.lower(): x for x in s.scalars(select(Section).where(Section.organization_id == organization_id))}
    platforms = {(x.section_id, x.name.lower()): x for x in s.scalars(
        select(Platform).join(Section).where(Section.organization_id == organization_id))}
    metrics = {x.code.lower(): x for x in s.scalars(select(Metric).where(Metric.organization_id == organization_id))}
    counts = {"created": 0, "updated": 0}
    for item in items:
        section = sections.get(item["section"].lower())
        if section is None:
            section = sections[item["section"].lower()] = Section(
                organization_id=organization_id, name=item["section"], position=len(sections),
                classification=default_level(s, organization_id, "metric"))
            s.add(section)
            s.flush()
        section.weight = item["section_weight"]
        platform = platforms.get((section.id, item["platform"].lower()))
        if platform is None:
            platform = platforms[section.id, item["platform"].lower()] = Platform(section_id=section.id,
                                                                                  name=item["platform"])
            s.add(platform)
            s.flush()
        platform.weight = item["platform_weight"]
        metric = metrics.get(item["metric"]["code"].lower())
        if metric is None:
            s.add(Metric(organization_id=organization_id, platform_id=platform.id, **item["metric"],
                         classification=default_level(s, organization_id, "metric")))
            counts["created"] += 1
            continue
        metric.platform_id = platform.id
        for key, value in item["metric"].items():
            setattr(metric, key, value)
        counts["updated"] += 1
    return counts


def import_framework(db: Database, principal: Principal, organization_id: int, text: str, fmt: str) -> dict[str, int]:
    """Merge a JSON or CSV framework file into the organization's framework (see the module docstring)."""
    authorize(principal, FRAMEWORK_MANAGE, ("organization", int(organization_id)))  # before reading the file
    items = _checked(rows_from_file(text, fmt))
    return change(db, principal, int(organization_id), "framework.imported",
                  lambda s: _merge(s, int(organization_id), items), {"metrics": len(items), "format": fmt},
                  "imported from a file")


# ---- command line -----------------------------------------------------------------------------


def operator(db: Database) -> Principal:
    """Whoever runs the command line on the server: it already holds the database, so it may manage
    any organization's framework (audited with no user as actor)."""
    return Principal(user_id=None, organization_id=None, db=db,
                     system=frozenset({FRAMEWORK_MANAGE, Permission.METRICS_READ.value}))


def _run(args: argparse.Namespace) -> int:
    db = database(args)
    try:
        org = organization_id(db, args.org)
        who = operator(db)
        if args.command == "framework-from-template":
            print(f"{apply_template(db, who, org)} metrics from the template.")
        elif args.command == "framework-export":
            text = export_framework(db, who, org, args.format)
            if args.output in (None, "-"):
                sys.stdout.write(text)
            else:
                with open(args.output, "w", encoding="utf-8", newline="") as handle:
                    handle.write(text)
        else:
            fmt = args.format or ("json" if args.path.lower().endswith(".json") else "csv")
            with open(args.path, encoding="utf-8-sig") as handle:
                counts = import_framework(db, who, org, handle.read(), fmt)
            print(f"{counts['created']} metrics created, {counts['updated']} updated.")
    except FrameworkError as exc:
        print(f"refused: {exc} Nothing was changed.", file=sys.stderr)
        return 1
    except Usage as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    return 0


def add_commands(subparsers: Any) -> None:
    """`framework-from-template`, `framework-export`, `framework-import` (see docs/SCORING.md)."""
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--org", required=True, help="organization slug or id")
        parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or the embedded SQLite")
        parser.set_defaults(handler=_run)

    common(subparsers.add_parser("framework-from-template",
                                 help="give an organization without a framework the four default sections"))
    export = subparsers.add_parser("framework-export", help="write an organization's framework as JSON or CSV")
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--output", "-o", default=None, help="file to write (default: standard output)")
    common(export)
    load = subparsers.add_parser("framework-import", help="merge a JSON or CSV framework file (one new version)")
    load.add_argument("path")
    load.add_argument("--format", choices=("json", "csv"), default=None, help="default: from the file name")
    common(load)
