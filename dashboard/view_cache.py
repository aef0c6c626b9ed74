"""Whole callback outputs (figures, notes, cards) kept like read models (core.read_cache).

On a warm cache the read models cost little; building the figure and its components from them is
then most of a chart callback's time. A callback whose output depends only on the data, the asker's
scopes and its own inputs (no clock, no session, no per-user setting outside the key) can keep the
output itself: per data token, `Principal.scope_key` and the arguments. A view only reads, so it is
filed under the token its request's principal was read under (`Principal.data_token`): the request
then makes no token lookup of its own, and a newer result under an older token is harmless. The permission checks of
`protected_callback` still run on every request, before this.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from plotly.io.json import to_json_plotly

from core.read_cache import cached_call, cached_under
from core.runtime import get_db
from core.security import Principal

T = TypeVar("T")


def cached_view(name: str, principal: Principal, args: tuple, build: Callable[[], T]) -> T:
    """`build()`'s output for these arguments and this principal's scopes, computed once per data token:
    the token the request's principal was read under (no lookup of its own), else the current one.
    The output is shared with every later hit: return it, never change it."""
    key = (principal.scope_key, *args)
    engine = get_db().engine
    if principal.data_token is not None:
        return cached_under(engine, principal.data_token, f"view.{name}", key, lambda: _as_sent(build()))
    with engine.connect() as conn:
        return cached_call(conn, f"view.{name}", key, lambda: _as_sent(build()))


def _as_sent(output: T) -> T:
    """The output as the JSON Dash would send for it, decoded: plain dicts, lists, strings and numbers.

    Dash encodes a callback's output with Plotly's encoder, which calls back into Python for every
    component, figure, array and date — a tenth of the server's time when the output came from here.
    Done once when the view is built, every hit is then encoded by the C encoder alone. The same JSON
    reaches the browser: `no_update` becomes the dict Dash itself recognizes as one, a tuple of
    outputs a list (as Dash makes it), NaN null (as Plotly's encoder does)."""
    return json.loads(to_json_plotly(output))
