"""`GET /unsubscribe/<token>`: the one-click unsubscribe of a report e-mail, without sign-in.

The token is signed with the app's secret key and names one subscription and its nonce
(core.subscriptions.service.unsubscribe), so it cannot be guessed or moved to another subscription.
The answer says in words what was stopped; a bad or outdated link says so and stops nothing.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from core.runtime import app_state
from core.subscriptions.service import unsubscribe as stop_subscription

unsubscribe_blueprint = Blueprint("unsubscribe", __name__)


@unsubscribe_blueprint.get("/unsubscribe/<token>")
def unsubscribe(token: str):
    state = app_state()
    stopped = stop_subscription(state.db, state.config.secret_key, token[:500])
    if stopped is None:
        return render_template("auth/error.html", title="Link not valid",
                               message="This unsubscribe link is not valid (changed, or its subscription was "
                                       "deleted). Nothing was changed."), 404
    return render_template("auth/error.html", title="Unsubscribed",
                           message=f"You are unsubscribed. Stopped: {stopped}. No more of these e-mails will be "
                                   f"sent; its owner can see it was stopped on the Subscriptions page.")
