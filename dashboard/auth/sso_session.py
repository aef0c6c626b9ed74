"""Which session came through company sign-in, so sign-out also ends it at the provider.

Kept apart from `sso_views` so that `views` (the one place a session starts, and sign-out) can use it
without importing the company sign-in views, which import `views`.
"""

from __future__ import annotations

from flask import current_app, session, url_for

from core.runtime import get_db
from core.security.audit import Action, record
from core.security.sso import SingleSignOn

SSO_KEY = "sso"  # {"user", "org", "id_token"}: the sign-in came through SSO; sign-out goes to the provider too


def _sso() -> SingleSignOn:
    return current_app.extensions["digicadence.sso"]


def carry_over(user_id: int) -> dict | None:
    """The SSO sign-out details to keep across `_complete_sign_in`'s new session, if they are this user's."""
    carried = session.get(SSO_KEY)
    return carried if isinstance(carried, dict) and carried.get("user") == user_id else None


def provider_logout(user_id: int | None, organization_id: int | None) -> str | None:
    """Before the session ends: the provider's end-session URL when this session came through SSO (audited)."""
    carried = session.get(SSO_KEY)
    if user_id is None or not isinstance(carried, dict) or carried.get("user") != user_id:
        return None
    url = _sso().logout_url(int(carried["org"]), str(carried["id_token"]), url_for("auth.login", _external=True))
    with get_db().session() as s:
        record(s, Action.SSO_SIGN_OUT, actor=user_id, organization_id=organization_id, target=("user", user_id),
               data={"provider_logout": url is not None})
    return url
