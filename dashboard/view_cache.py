"""Whole callback outputs (figures, notes, cards) kept like read models (core.read_cache).

On a warm cache the read models cost little; building the figure and its components from them is
then most of a chart callback's time. A callback whose output depends only on the data, the asker's
scopes and its own inputs (no clock, no session, no per-user setting outside the key) can keep the
output itself: per data token, `Principal.scope_key` and the arguments. The permission checks of
`protected_callback` still run on every request, before this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from core.read_cache import cached_call
from core.runtime import get_db
from core.security import Principal

T = TypeVar("T")


def cached_view(name: str, principal: Principal, args: tuple, build: Callable[[], T]) -> T:
    """`build()`'s output for these arguments and this principal's scopes, computed once per data token."""
    with get_db().engine.connect() as conn:
        return cached_call(conn, f"view.{name}", (principal.scope_key, *args), build)
