"""The signed-in principal is kept per process under the data token, and still never outlives a change.

dashboard.auth.principal.load_user reads the user's row and the data token in one statement, and takes
the grants resolved from them from core.read_cache. These tests prove the cache is used (the grants
are not read again) and that every change that must end access does so on the very next request:
a grant removed or moved by any writer (raw SQL here, so no application hook could be what works),
a custom role's permissions, a session revoked, a user disabled.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text, update

from core.demo import seed_demo
from core.models import Role, RoleGrant, User
from core.read_cache import data_token
from core.security.permissions import Permission
from tests.support import demo_people, make_app, sign_in


@pytest.fixture
def world(db, tmp_path):
    seed_demo(db, seed=7, months=2)
    return demo_people(db, tmp_path)


@pytest.fixture
def app(db, tmp_path, world):
    return make_app(db, tmp_path)


def _analyst(app, world, db):
    """The Analyst signed in (a project grant: the optimizer page), with the principal cached."""
    client = app.server.test_client()
    assert sign_in(client, world["Analyst"].email).status_code == 302
    for _ in range(2):
        assert client.get("/optimizer").status_code == 200
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.email == world["Analyst"].email))
    return client, user_id


def test_a_warm_request_reads_the_user_row_and_not_the_grants(app, world, db):
    client, _ = _analyst(app, world, db)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    engine = app.server.extensions["digicadence"].db.engine  # the app's own engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.get("/optimizer").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert any("FROM users" in s and "data_versions" in s for s in statements)
    assert not [s for s in statements if "role_grants" in s]


def test_a_removed_grant_ends_access_on_the_very_next_request(app, world, db):
    client, user_id = _analyst(app, world, db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM role_grants WHERE user_id = :u"), {"u": user_id})
    assert client.get("/optimizer").status_code == 403


def test_a_custom_roles_changed_permissions_apply_on_the_very_next_request(app, world, db):
    client, user_id = _analyst(app, world, db)
    with db.session() as s:
        role = Role(
            name="Planner",
            organization_id=s.scalar(select(User.organization_id).where(User.id == user_id)),
            is_builtin=False,
            permissions=[Permission.SCENARIO_RUN.value, Permission.BRAND_READ.value],
        )
        s.add(role)
        s.flush()
        s.execute(update(RoleGrant).where(RoleGrant.user_id == user_id).values(role_id=role.id))
    assert client.get("/optimizer").status_code == 200
    with db.session() as s:
        s.execute(update(Role).where(Role.name == "Planner").values(permissions=[Permission.BRAND_READ.value]))
    assert client.get("/optimizer").status_code == 403


def test_a_revoked_session_and_a_disabled_user_are_signed_out_on_the_very_next_request(app, world, db):
    client, user_id = _analyst(app, world, db)
    app.server.session_interface.store.delete_for_user(user_id)
    assert client.get("/optimizer").status_code == 302  # back to sign-in

    client, user_id = _analyst(app, world, db)
    with db.session() as s:
        s.execute(update(User).where(User.id == user_id).values(is_active=False))
    assert client.get("/optimizer").status_code == 302


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE role_grants SET scope_id = scope_id",
        "DELETE FROM role_grants WHERE id = (SELECT min(id) FROM role_grants)",
        "UPDATE roles SET name = name",
    ],
    ids=["grant changed", "grant removed", "role changed"],
)
def test_writes_to_grants_and_roles_move_the_data_token(world, db, statement):
    with db.engine.connect() as conn:
        before = data_token(conn)
        assert conn.execute(select(func.count()).select_from(RoleGrant)).scalar() > 0
    with db.engine.begin() as conn:
        conn.execute(text(statement))
    with db.engine.connect() as conn:
        assert data_token(conn) != before
