"""Computed read models, kept per process for as long as the data under them is unchanged.

The dashboard asks the same questions many times: every person opening a page, every chart of a
page, every filter change recomputes scores, rankings and correlations from the same rows. A result
here is keyed on the read model, its arguments, the principal's scopes (`Principal.scope_key`: the
rows a person may see) and the database's data token (`data_versions`, changed by triggers with
every committed write to the analytic tables, migration 0010). A write anywhere in those tables —
an import, a recompute, retention, psql — makes every older entry unreachable; the LRU drops them.

Safe under concurrency: the token is read before the computation, so a result computed while a
write commits is filed under the old token, which no later reader asks for. Each caller gets its
own deep copy, so a caller that changes a frame cannot change what the next one sees. Errors
(a denial, a bad argument) are never cached: they run again every time.

DIGICADENCE_READ_CACHE_ENTRIES sets the entries per process (default 512; 0 turns caching off).
"""

from __future__ import annotations

import copy
import functools
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from cachetools import LRUCache
from sqlalchemy import Connection, Engine, select

from core.models import DataVersion
from core.observability.metrics import READ_CACHE

ENTRIES_ENV = "DIGICADENCE_READ_CACHE_ENTRIES"
DEFAULT_ENTRIES = 512
T = TypeVar("T")
_MISSING = object()


def data_token(conn: Connection) -> str | None:
    """The current data token (None before the first write after the tables were emptied)."""
    return conn.execute(select(DataVersion.token).where(DataVersion.id == 1)).scalar()


def _token_of_transaction(conn: Connection) -> str | None:
    """The token as read once per transaction of `conn`: a callback's reads share one lookup, and
    its results stay consistent with each other (all filed under the token it started with)."""
    memo = getattr(conn, "_read_cache_token", None)
    if memo is not None and memo[0] is not None and memo[0] is conn.get_transaction():
        return memo[1]
    token = data_token(conn)
    conn._read_cache_token = (conn.get_transaction(), token)  # type: ignore[attr-defined]
    return token


class ReadCache:
    """An LRU of read-model results for one database, shared by the threads of a process."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self._lru: LRUCache | None = LRUCache(entries) if entries > 0 else None
        self._lock = threading.Lock()

    def get(self, conn: Connection, name: str, key: tuple, compute: Callable[[], T]) -> T:
        """The cached result for `key` under the current data token, computing it on a miss."""
        token = _token_of_transaction(conn) if self._lru is not None else None
        if token is None:
            READ_CACHE.labels(name, "bypass").inc()
            return compute()
        full = (token, name, key)
        with self._lock:
            value = self._lru.get(full, _MISSING)
        if value is not _MISSING:
            READ_CACHE.labels(name, "hit").inc()
            return copy.deepcopy(value)
        READ_CACHE.labels(name, "miss").inc()
        value = compute()
        with self._lock:
            self._lru[full] = value
        return copy.deepcopy(value)

    def clear(self) -> None:
        if self._lru is not None:
            with self._lock:
                self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru) if self._lru is not None else 0


_caches: weakref.WeakKeyDictionary[Engine, ReadCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> ReadCache:
    """The process's cache for one database (made on first use; sized from the environment)."""
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = ReadCache(int(os.environ.get(ENTRIES_ENV, DEFAULT_ENTRIES)))
        return cache


def _frozen(value: Any) -> Any:
    """Arguments as a hashable key: lists, tuples and sets become tuples (sets sorted)."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(_frozen(v) for v in value))
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    hash(value)  # TypeError for anything else unhashable: the call is not cached
    return value


def cached_read(*, scoped: bool = True) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Cache a read model `fn(conn, principal, *args)` (or `fn(conn, *args)` with scoped=False, for
    one that reads no scoped rows). The undecorated function stays reachable as `fn.uncached`."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        name = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__qualname__}"

        @functools.wraps(fn)
        def wrapper(conn: Connection, *args: Any, **kwargs: Any) -> T:
            try:
                scope = (args[0].scope_key,) if scoped else ()
                key = (*scope, _frozen(args[1:] if scoped else args), _frozen(kwargs))
            except TypeError:
                return fn(conn, *args, **kwargs)
            return cache_for(conn.engine).get(conn, name, key, lambda: fn(conn, *args, **kwargs))

        wrapper.uncached = fn  # type: ignore[attr-defined]
        return wrapper

    return decorate
