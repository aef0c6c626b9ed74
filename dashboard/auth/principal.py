"""Who is asking: Flask-Login's user, checked against the session epoch, and their Principal.

The Principal (every grant resolved) is kept on `flask.g` for the request; pages, callbacks and
endpoints all ask `current_principal()`, never a value the browser sent. The user's row is read on
every request (disabled, erased, signed out everywhere: the session epoch moved), together with the
data token; the grants resolved from it are kept per process under that token
(`core.read_cache.cached_under`), which every table they come from moves at commit (migrations
0010, 0011 and 0016): a removed grant, a role's changed permissions or a brand taken out of a project
take effect on the next request of every process.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import g, session
from flask_login import LoginManager, UserMixin, current_user
from sqlalchemy import bindparam, select

from core.models import User
from core.read_cache import TOKEN_COLUMN, cached_under
from core.runtime import get_db
from core.security import Principal, load_principal
from core.security.principal import USER_COLUMNS, principal_of

login_manager = LoginManager()
login_manager.session_protection = None  # the server-side session already binds the sign-in


@dataclass
class SignedInUser(UserMixin):
    id: int
    email: str
    name: str
    organization_id: int | None
    must_change_password: bool
    # The user's organization is archived: the gate shows why every page is closed.
    organization_archived: bool = False

    def get_id(self) -> str:
        return str(self.id)


_SIGNED_IN = select(*USER_COLUMNS, User.email, User.name, User.must_change_password, User.session_epoch,
                    TOKEN_COLUMN).where(User.id == bindparam("user_id"))


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    """The session's user, unless disabled, erased, or their sessions were ended (epoch moved)."""
    db = get_db()
    with db.engine.connect() as conn:  # one statement on a hit: this runs on every request
        user = conn.execute(_SIGNED_IN, {"user_id": int(user_id)}).first()
        if user is None or not user.is_active or user.erased_at is not None:
            return None
        if user.session_epoch != session.get("epoch"):
            return None
        # Everything of the user row that principal_of reads; the grants are filed under the token.
        key = (user.id, user.organization_id, user.organization_archived_at is None)
        principal = cached_under(db.engine, user.data_token, "principal", key, lambda: principal_of(conn, user))
        g.principal = replace(principal, db=db, data_token=user.data_token)
        return SignedInUser(user.id, user.email, user.name, user.organization_id, user.must_change_password,
                            organization_archived=user.organization_archived_at is not None)


def current_principal() -> Principal | None:
    """The signed-in user's permissions by scope, or None for an anonymous request."""
    if not current_user.is_authenticated:
        return None
    if "principal" not in g:
        g.principal = load_principal(get_db(), int(current_user.id))
    return g.principal


def holds_anywhere(principal: Principal | None, permission: str) -> bool:
    """Whether the principal holds `permission` at any scope (the page-level gate; objects are checked later)."""
    return principal is not None and not principal.scopes(permission).empty


def page_allowed(principal: Principal | None, page: dict) -> bool:
    """Whether a page of Dash's registry (its `permission` entry) may be shown to `principal`."""
    permission = page.get("permission")
    return permission is not None and holds_anywhere(principal, permission)
