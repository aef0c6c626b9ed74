"""Import bombs and oversized files are refused early, with the limit in plain words, and nothing is written.

The files are real: an .xlsx zip bomb (2 MB on disk, 330 MB of sheet XML, generated streaming through
zipfile so the test stays cheap), workbooks and CSVs with too many rows, a giant cell, a line of a
million commas, nested archives. The readers enforce the caps (`ImportLimits`); the REST API answers
413/422 problems, the import page a message, the CLI exit code 3. Memory is measured with tracemalloc:
a refusal must come before any large allocation (a bound on memory, never on time).

The demo world lives on SQLite for the module: every refusal happens before the database is touched,
and "nothing written" is checked by counting rows.
"""

from __future__ import annotations

import base64
import io
import json
import tracemalloc
import zipfile
from collections.abc import Iterator
from xml.sax.saxutils import escape

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core.config import ConfigError, ImportLimits
from core.demo import seed_demo
from core.imports import FileRefused, preview
from core.imports.__main__ import main as cli
from core.imports.readers import RawFile, read_table
from core.models import (
    AuditEvent,
    Brand,
    Channel,
    ImportBatch,
    ImportUpload,
    Metric,
    MetricValue,
    Organization,
    ProjectBrand,
    Spend,
    User,
)
from core.security import Action
from tests.conftest import _empty
from tests.integration.api.conftest import bearer
from tests.integration.test_admin_pages import _client, _ok, _post
from tests.support import demo_people, make_app

MiB = 1024 * 1024
LIMITS = ImportLimits(max_rows=100)  # the app's: a small row cap keeps the files small; other caps as shipped
HEADER = ("brand", "metric", "period", "value")
MAPPING = {"kind": "metrics", "layout": "long", "granularity": "month"}
ADMIN = "Organization Administrator"
UPLOAD = "..import-token.data...import-upload-status.children.."
PREVIEW = "import-summary.children...import-errors"


# --- real files ---------------------------------------------------------------------------------

def _row_xml(values) -> bytes:
    cells = "".join(f"<c><v>{v}</v></c>" if isinstance(v, int | float) else
                    f'<c t="inlineStr"><is><t>{escape(str(v))}</t></is></c>' for v in values)
    return f"<row>{cells}</row>".encode()


def xlsx(rows: Iterator[bytes], *, dimension: str | None = None, extra: dict[str, bytes] | None = None,
         level: int = 1) -> bytes:
    """A workbook whose first sheet's XML is streamed from `rows` (chunks of <row> elements) through
    deflate, so an enormous sheet costs only its compressed size in memory."""
    base = io.BytesIO()
    Workbook().save(base)
    out = io.BytesIO()
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                zf.writestr(info.filename, source.read(info))
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
                        b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            if dimension:
                sheet.write(f'<dimension ref="{dimension}"/>'.encode())
            sheet.write(b"<sheetData>")
            for chunk in rows:
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return out.getvalue()


def _repeated(row: bytes, total_bytes: int) -> Iterator[bytes]:
    """`row` repeated to about `total_bytes` (whole rows), in 1 MiB chunks."""
    per_chunk = max(1, MiB // len(row))
    rows = total_bytes // len(row)
    for start in range(0, rows, per_chunk):
        yield row * min(per_chunk, rows - start)


def _rows_xml(rows: list[tuple]) -> Iterator[bytes]:
    yield from (_row_xml(r) for r in rows)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """The attack review's bomb: a ~2 MB .xlsx whose sheet expands to 330 MB (2.3 million rows)."""
    row = _row_xml(("Aroma Haven", "amz_rating", "2024-01-01", 4.5))
    data = xlsx(iter([_row_xml(HEADER), *_repeated(row, 330 * MiB)]))
    assert len(data) < 3 * MiB
    return data


def _csv(rows: list[tuple]) -> bytes:
    return "\n".join(",".join(str(v) for v in r) for r in [HEADER, *rows]).encode() + b"\n"


def _refused(call, code: str = "too_large") -> FileRefused:
    with pytest.raises(FileRefused) as info:
        call()
    assert info.value.code == code
    return info.value


def _peak_mib(call) -> float:
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1] / MiB
        tracemalloc.stop()
    return peak


# --- the readers: one place enforces every cap ----------------------------------------------------

def test_a_zip_bomb_is_refused_from_its_declared_sizes_before_anything_is_unpacked(bomb):
    raw = RawFile("bomb.xlsx", bomb)
    holder = {}
    peak = _peak_mib(lambda: holder.update(error=_refused(lambda: read_table(raw, ImportLimits()))))
    assert holder["error"].reason == ("This workbook expands to 330 MB; the limit is 256 MB. "
                                      "Split it into smaller files.")
    assert peak < 8, f"{peak:.1f} MiB allocated before the refusal"  # reading it whole takes gigabytes


def test_rows_stream_and_stop_at_the_row_cap():
    # 200,000 rows (about 17 MB of XML, packed like any spreadsheet), no <dimension>: only counting the
    # rows as they come can stop it.
    template = _row_xml(("Acme", "sov", "2024-01-01", 0)).replace(b"<v>0</v>", b"<v>%d</v>")
    data = xlsx(iter([_row_xml(HEADER), *(b"".join(template % n for n in range(start, start + 10_000))
                                           for start in range(0, 200_000, 10_000))]))
    holder = {}
    peak = _peak_mib(lambda: holder.update(error=_refused(lambda: read_table(RawFile("rows.xlsx", data),
                                                                             ImportLimits(max_rows=1000)))))
    assert "more than 1,000 rows; the limit is 1,000" in holder["error"].reason
    assert peak < 4, f"{peak:.1f} MiB: the rows were materialized before the cap"
    # A <dimension> that declares the rows is refused at once, with the count.
    declared = xlsx(_rows_xml([HEADER, *[("Acme", "sov", "2024-01-01", 1)] * 3]), dimension="A1:D6000001")
    assert _refused(lambda: read_table(RawFile("d.xlsx", declared), LIMITS)).reason == (
        "This workbook has 6,000,000 rows; the limit is 100. Split it into smaller files.")
    # One that declares too few rows neither hides rows from the cap nor drops data.
    lying = xlsx(_rows_xml([HEADER, *[("Acme", "sov", f"2024-{m:02d}-01", m) for m in range(1, 13)] * 10]),
                 dimension="A1:D2")
    assert "more than 100 rows" in _refused(lambda: read_table(RawFile("l.xlsx", lying), LIMITS)).reason
    assert len(read_table(RawFile("l.xlsx", lying), ImportLimits())) == 120
    # Row numbers (blank rows dropped, still counted) as before.
    frame = read_table(RawFile("ok.xlsx", xlsx(_rows_xml([HEADER, ("A", "s", "2024-01-01", 1), ("",) * 4,
                                                          ("B", "s", "2024-02-01", 2)]))), LIMITS)
    assert list(frame.index) == [2, 4] and frame.loc[4].tolist() == ["B", "s", "2024-02-01", "2"]


def test_csv_rows_cells_fields_and_lines_have_caps():
    rows = [("Acme", "sov", "2024-01-01", 1)] * 101
    assert _refused(lambda: read_table(RawFile("r.csv", _csv(rows)), LIMITS)).reason == (
        "This file has more than 100 rows; the limit is 100. Split it into smaller files.")
    assert len(read_table(RawFile("r.csv", _csv(rows[:100])), LIMITS)) == 100
    cells = _refused(lambda: read_table(RawFile("c.csv", _csv(rows)), ImportLimits(max_cells=200))).reason
    assert "more than 200 cells (4 columns × more than 50 rows); the limit is 200" in cells
    # A cell Excel could not hold; and one so long csv's own field limit stops it first.
    wide = _csv([("Acme", "sov", "2024-01-01", "9" * 40_000)])
    assert _refused(lambda: read_table(RawFile("f.csv", wide))).reason.startswith(
        "Row 2, column “value”, holds more than 32,767 characters; the limit is 32,767 per cell.")
    runaway = b'brand,metric,period,value\nAcme,sov,2024-01-01,"1\n' + b"x" * 300_000 + b"\n"
    assert "holds more than 32,767 characters" in _refused(lambda: read_table(RawFile("q.csv", runaway))).reason
    # A line of a million commas is refused before csv splits it into a million values.
    commas = b"brand,metric,period,value\n" + b"," * 1_000_000 + b"\n"
    holder = {}
    peak = _peak_mib(lambda: holder.update(error=_refused(lambda: read_table(RawFile("l.csv", commas)))))
    assert holder["error"].reason.startswith("Line 2 has more than 5,000 values; the limit is 5,000 columns.")
    assert peak < 6, f"{peak:.1f} MiB"
    too_big = _refused(lambda: read_table(RawFile("big.csv", b"a\n" + b"1\n" * MiB),
                                          ImportLimits(max_expanded_bytes=MiB))).reason
    assert too_big == "“big.csv” is 2.0 MB; the limit is 1.0 MB. Split it into smaller files."


def test_archives_that_are_not_plain_workbooks_are_refused():
    rows = _rows_xml([HEADER, ("Acme", "sov", "2024-01-01", 1)])
    nested = xlsx(rows, extra={"xl/embeddings/inner.zip": b"PK\x03\x04" + b"\0" * 64})
    assert "another file packed inside it (“inner.zip”)" in _refused(
        lambda: read_table(RawFile("n.xlsx", nested)), "unsafe_archive").reason
    disguised = xlsx(_rows_xml([HEADER]), extra={"xl/media/image1.png": b"\x1f\x8b\x08\0" + b"\0" * 64})
    assert "(“image1.png”)" in _refused(lambda: read_table(RawFile("d.xlsx", disguised)), "unsafe_archive").reason
    many = xlsx(_rows_xml([HEADER]), extra={f"xl/media/p{i}.txt": b"x" for i in range(1_000)})
    assert _refused(lambda: read_table(RawFile("m.xlsx", many)), "unsafe_archive").reason.startswith(
        "This workbook is made of 1,0")
    # 20 MB of one repeated row: under the size cap, but packed like a bomb, not like a spreadsheet.
    tight = xlsx(iter([_row_xml(HEADER), *_repeated(_row_xml(("Acme", "sov", "2024-01-01", 1)), 20 * MiB)]),
                 level=9)
    assert "the limit is 100 to 1" in _refused(lambda: read_table(RawFile("t.xlsx", tight)), "unsafe_archive").reason


def test_limits_come_from_the_environment_with_documented_defaults():
    assert ImportLimits.from_env({}) == ImportLimits()
    assert (ImportLimits().max_rows, ImportLimits().max_expanded_bytes) == (1_000_000, 256 * MiB)
    custom = ImportLimits.from_env({"DIGICADENCE_IMPORT_MAX_ROWS": "5000", "DIGICADENCE_IMPORT_MAX_EXPANDED_MB": "64"})
    assert (custom.max_rows, custom.max_expanded_bytes) == (5000, 64 * MiB)
    for bad in ("0", "-1", "lots"):
        with pytest.raises(ConfigError, match="DIGICADENCE_IMPORT_MAX_ROWS"):
            ImportLimits.from_env({"DIGICADENCE_IMPORT_MAX_ROWS": bad})


# --- every entry point, one demo world ------------------------------------------------------------

@pytest.fixture(scope="module")
def world(_sqlite_db, tmp_path_factory):
    db = _sqlite_db
    _empty(db)
    seed_demo(db, seed=7, months=3)
    tmp = tmp_path_factory.mktemp("import-limits")
    people = demo_people(db, tmp)
    with db.session() as s:
        org = s.scalars(select(Organization).order_by(Organization.id)).first()
        brand = s.scalar(select(Brand.name).join(ProjectBrand, ProjectBrand.brand_id == Brand.id)
                         .where(Brand.organization_id == org.id, ProjectBrand.role == "own").order_by(Brand.id))
        metric = s.scalars(select(Metric).where(Metric.min_value.is_not(None)).order_by(Metric.id)).first()
        value = metric.min_value if metric.max_value is None else (metric.min_value + metric.max_value) / 2
        home = {"id": org.id, "slug": org.slug}
        code = metric.code
    app = make_app(db, tmp, import_limits=LIMITS, api_rate="10000 per minute", signin_rate_per_ip="1000 per minute",
                   signin_rate_per_account="1000 per minute")
    # 101 valid rows (distinct months): one over the app's row cap, a file every other check accepts.
    rows = [(brand, code, f"{2000 + m // 12}-{m % 12 + 1:02d}-01", value) for m in range(101)]
    return {"db": db, "app": app, "people": people, "home": home, "rows": rows, "tmp": tmp}


def _written(db) -> dict[str, int]:
    with db.session() as s:
        counts = {m.__name__: s.scalar(select(func.count()).select_from(m))
                  for m in (ImportBatch, MetricValue, Spend, Channel, ImportUpload)}
        counts["imports audited"] = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == Action.IMPORT_COMMITTED))
    return counts


@pytest.fixture(scope="module")
def api(world):
    """A test client and the administrator's access token (issued directly: the page signs in with the TOTP code)."""
    server = world["app"].server
    with world["db"].session() as s:
        admin_id = s.scalar(select(User.id).where(User.email == world["people"][ADMIN].email))
    return server.test_client(), bearer(server.extensions["digicadence.api_credentials"].issue(admin_id).access_token)


def _post_file(api, path: str, data: bytes, filename: str):
    client, headers = api
    return client.post(path, headers=headers, content_type="multipart/form-data",
                       data={"mapping": json.dumps(MAPPING), "file": (io.BytesIO(data), filename)})


def test_the_api_answers_413_for_the_bomb_within_a_small_memory_bound(world, api, bomb):
    before = _written(world["db"])
    responses = {}
    peak = _peak_mib(lambda: responses.update(
        {path: _post_file(api, path, bomb, "bomb.xlsx") for path in ("/api/v1/imports/preview", "/api/v1/imports")}))
    for response in responses.values():
        assert response.status_code == 413 and response.content_type == "application/problem+json"
        problem = response.get_json()
        assert problem["detail"] == ("This workbook expands to 330 MB; the limit is 256 MB. Split it into smaller "
                                     "files. Nothing was written.")
        assert problem["type"].endswith("/import-too-large")
    assert peak < 64, f"{peak:.1f} MiB"  # the upload itself is 2 MB, reading it whole takes gigabytes
    assert _written(world["db"]) == before


def test_the_api_refuses_too_many_rows_and_nested_archives(world, api):
    before = _written(world["db"])
    for path in ("/api/v1/imports/preview", "/api/v1/imports"):
        response = _post_file(api, path, _csv(world["rows"]), "values.csv")
        assert response.status_code == 413, response.get_data(as_text=True)
        assert "more than 100 rows; the limit is 100" in response.get_json()["detail"]
        nested = xlsx(_rows_xml([HEADER, *world["rows"][:2]]), extra={"xl/embeddings/x.xlsx": b"PK\x03\x04"})
        response = _post_file(api, path, nested, "values.xlsx")
        assert response.status_code == 422 and response.get_json()["type"].endswith("/import-refused")
        assert "packed inside it" in response.get_json()["detail"]
    assert _written(world["db"]) == before
    ok = _post_file(api, "/api/v1/imports/preview", _csv(world["rows"][:100]), "values.csv")
    assert ok.status_code == 200 and ok.get_json()["total_rows"] == 100  # at the cap is fine


def _data_url(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def test_the_import_page_refuses_the_bomb_at_upload_and_too_many_rows_at_preview(world, bomb):
    db, admin = world["db"], _client(world, ADMIN)
    before = _written(db)
    out = _ok(_post(world, admin, UPLOAD, contents=_data_url(bomb), filename="bomb.xlsx"))
    assert out["import-token"]["data"] is None
    assert "This workbook expands to 330 MB; the limit is 256 MB." in json.dumps(out["import-upload-status"],
                                                                                 ensure_ascii=False)
    assert _written(db) == before  # not even staged

    token = _ok(_post(world, admin, UPLOAD, contents=_data_url(_csv(world["rows"])),
                      filename="values.csv"))["import-token"]["data"]
    assert token
    out = _ok(_post(world, admin, PREVIEW, token=token, organization_id=world["home"]["id"], kind="metrics",
                    mapping_json=json.dumps(MAPPING)))
    message = json.dumps(out["import-summary"]["children"], ensure_ascii=False)
    assert "This file has more than 100 rows; the limit is 100." in message and "Nothing was imported" in message
    assert out["import-previewed"]["data"] is None
    assert _written(db) == before  # the staged file is dropped too


def test_the_cli_exits_3_with_the_limit(world, bomb, monkeypatch, capsys):
    tmp, db = world["tmp"], world["db"]
    (tmp / "m.json").write_text(json.dumps(MAPPING))
    (tmp / "bomb.xlsx").write_bytes(bomb)
    (tmp / "rows.csv").write_bytes(_csv(world["rows"]))
    base = ["--org", world["home"]["slug"], "--kind", "metrics", "--mapping", str(tmp / "m.json"),
            "--database-url", db.url]
    before = _written(db)
    assert cli(["commit", *base, str(tmp / "bomb.xlsx")]) == 3
    assert "refused: This workbook expands to 330 MB; the limit is 256 MB." in capsys.readouterr().err
    monkeypatch.setenv("DIGICADENCE_IMPORT_MAX_ROWS", "100")
    assert cli(["commit", *base, str(tmp / "rows.csv")]) == 3
    assert "more than 100 rows; the limit is 100" in capsys.readouterr().err
    monkeypatch.setenv("DIGICADENCE_IMPORT_MAX_EXPANDED_MB", "1")
    (tmp / "huge.csv").write_bytes(b"a\n" + b"1\n" * MiB)  # refused from its size on disk, before it is read
    assert cli(["preview", *base, str(tmp / "huge.csv")]) == 3
    assert "“huge.csv” is 2.0 MB; the limit is 1.0 MB." in capsys.readouterr().err
    monkeypatch.setenv("DIGICADENCE_IMPORT_MAX_ROWS", "none")
    assert cli(["preview", *base, str(tmp / "rows.csv")]) == 2
    assert _written(db) == before
    monkeypatch.delenv("DIGICADENCE_IMPORT_MAX_ROWS")
    monkeypatch.delenv("DIGICADENCE_IMPORT_MAX_EXPANDED_MB")
    assert cli(["preview", *base, str(tmp / "rows.csv")]) == 0  # under the default cap: a clean preview


def test_the_service_raises_rather_than_reporting(world, bomb):
    with pytest.raises(FileRefused, match="expands to 330 MB"):
        preview(world["db"], world["home"]["id"], bomb, MAPPING, filename="bomb.xlsx")
