"""Who is asking: Flask-Login's user, checked against the session epoch, and their Principal.

The Principal (every grant resolved) is loaded once per request, with the user, and kept on `flask.g`; pages,
callbacks and endpoints all ask `current_principal()`, never a value the browser sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import g, session
from flask_login import LoginManager, UserMixin, current_user

from core.models import User
from core.runtime import get_db
from core.security import Principal, load_principal

login_manager = LoginManager()
login_manager.session_protection = None  # the server-side session already binds the sign-in


@dataclass
class SignedInUser(UserMixin):
    id: int
    email: str
    name: str
    organization_id: int | None
    must_change_password: bool

    def get_id(self) -> str:
        return str(self.id)


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    """The session's user, unless disabled, erased, or their sessions were ended (epoch moved)."""
    with get_db().session() as s:
        user = s.get(User, int(user_id))
        if user is None or not user.is_active or user.erased_at is not None:
            return None
        if user.session_epoch != session.get("epoch"):
            return None
        # The grants in the same session and moment as the user check: one round of queries a request.
        g.principal = replace(load_principal(s, user.id), db=get_db())
        return SignedInUser(user.id, user.email, user.name, user.organization_id, user.must_change_password)


def current_principal() -> Principal | None:
    """The signed-in user's permissions by scope, or None for an anonymous request."""
    if not current_user.is_authenticated:
        return None
    if "principal" not in g:
        g.principal = load_principal(get_db(), int(current_user.id))
    return g.principal
