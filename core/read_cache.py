"""Computed read models, kept per process for as long as the data under them is unchanged.

The dashboard asks the same questions many times: every person opening a page, every chart of a
page, every filter change recomputes scores, rankings and correlations from the same rows. A result
here is keyed on the read model, its arguments, the principal's scopes (`Principal.scope_key`: the
rows a person may see) and the database's data token (`data_versions`, changed by triggers with
every committed write to the analytic tables, migrations 0010–0011). A write anywhere in those tables —
an import, a recompute, retention, psql — makes every older entry unreachable; the LRU drops them.

Safe under concurrency: the token is read before the computation, so a result computed while a
write commits is filed under the old token, which no later reader asks for. Errors (a denial, a bad
argument) are never cached: they run again every time.

A hit hands out the stored object itself, not a copy: copying every frame and component tree on
every hit cost a sixth of the server's time, and callers only read results (Dash serializes the
views). Read-only is a rule, not a wrapper (a DataFrame cannot be frozen), so it is checked: with
`check_hits(True)` (the test suite turns it on for every test) the process tier keeps each entry's
pickle digest and a hit whose value changed since it was stored raises `CachedValueChanged`,
naming the read model — a caller that changes a cached frame fails the suite instead of changing
what the next person sees. Change a copy (`frame.copy()`) if you must.

With Redis (`share`), a second tier holds the same entries for every process of the deployment, so
one web worker's result serves the others: values are pickled and signed with the app's secret
(HMAC-SHA256), and one that does not verify is ignored, so a writable Redis cannot make a worker
unpickle a stranger's bytes. A Redis error skips the shared tier for 30 s; pages never wait on it.

DIGICADENCE_READ_CACHE_ENTRIES sets the entries per process (default 512; 0 turns caching off) and
DIGICADENCE_READ_CACHE_MB the bytes their pickles may hold in all (default 64): a portfolio of many
brands makes each entry bigger, and the count alone would then not bound a worker's memory. The app
factory passes `Config.read_cache_entries` and `Config.read_cache_mb` to `configure`; a database
nobody configured (command-line tools, tests) gets the defaults.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import pickle
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from cachetools import LRUCache
from sqlalchemy import Connection, Engine, exists, func, select

from core.config import Config
from core.models import DataVersion, DataVersionPending
from core.observability.metrics import READ_CACHE

DEFAULT_ENTRIES = Config.read_cache_entries  # the one default lives with the variable, in core.config
DEFAULT_BYTES = Config.read_cache_mb * 2**20
T = TypeVar("T")
_MISSING = object()
log = logging.getLogger(__name__)
_checking = False  # check_hits: the test suite's proof that no caller changes a cached value


class CachedValueChanged(AssertionError):
    """A caller changed a value the read cache handed out (see the module docstring)."""


def check_hits(on: bool) -> None:
    """Make every hit prove its value is unchanged since it was stored (slow: for tests)."""
    global _checking
    _checking = on


_TOKEN = select(DataVersion.token).where(DataVersion.id == 1)
# PostgreSQL changes the token when a writer commits (migration 0011); until then the writer's own
# reads see its uncommitted rows under the old token, so its transaction must not use the cache.
_TOKEN_UNLESS_WRITING = _TOKEN.where(~exists().where(
    DataVersionPending.txid == func.txid_current_if_assigned()))


# The token as a column, for a statement that reads it beside its own rows (one round trip fewer).
TOKEN_COLUMN = _TOKEN.scalar_subquery().label("data_token")


def data_token(conn: Connection) -> str | None:
    """The current data token; None before the first write after the tables were emptied, and (on
    PostgreSQL) inside a transaction that has written the analytic tables and not yet committed."""
    return conn.execute(_TOKEN_UNLESS_WRITING if conn.dialect.name == "postgresql" else _TOKEN).scalar()


def _token_of_transaction(conn: Connection) -> str | None:
    """The token as read once per transaction of `conn`: a callback's reads share one lookup, and
    its results stay consistent with each other (all filed under the token it started with)."""
    memo = getattr(conn, "_read_cache_token", None)
    if memo is not None and memo[0] is not None and memo[0] is conn.get_transaction():
        return memo[1]
    token = data_token(conn)
    conn._read_cache_token = (conn.get_transaction(), token)  # type: ignore[attr-defined]
    return token


class SharedTier:
    """Read-model results in Redis for all processes, signed; errors make it step aside for a while."""

    PREFIX = "digicadence:read-cache:"

    def __init__(self, client: Any, secret: str | bytes, ttl_s: int = 3600, pause_s: float = 30.0) -> None:
        self.client, self.ttl_s, self.pause_s = client, ttl_s, pause_s
        self._key = hashlib.sha256(b"read-cache:" + (secret.encode() if isinstance(secret, str) else secret)).digest()
        self._paused_until = 0.0

    def _name(self, full: tuple) -> str:
        return self.PREFIX + hashlib.sha256(repr(full).encode()).hexdigest()

    def _available(self) -> bool:
        return time.monotonic() >= self._paused_until

    def _failed(self, exc: Exception) -> None:
        self._paused_until = time.monotonic() + self.pause_s
        log.warning("read cache: Redis unavailable (%s); using the process cache alone for %.0f s",
                    exc.__class__.__name__, self.pause_s)

    def get(self, full: tuple) -> Any:
        if not self._available():
            return _MISSING
        try:
            blob = self.client.get(self._name(full))
        except Exception as exc:  # any Redis failure: compute instead
            self._failed(exc)
            return _MISSING
        if not blob or len(blob) < 32:
            return _MISSING
        tag, data = blob[:32], blob[32:]
        if not hmac.compare_digest(tag, hmac.new(self._key, data, hashlib.sha256).digest()):
            log.warning("read cache: an entry in Redis failed its signature check; ignored")
            return _MISSING
        try:
            return pickle.loads(data)  # signed with this deployment's secret, checked above
        except Exception as exc:  # written by another release whose classes differ: recompute
            log.debug("read cache: entry not readable: %s", exc)
            return _MISSING

    def put(self, full: tuple, data: bytes) -> None:
        """Store a value's pickle (`_pickled`)."""
        if not self._available():
            return
        tag = hmac.new(self._key, data, hashlib.sha256).digest()
        try:
            self.client.set(self._name(full), tag + data, ex=self.ttl_s)
        except Exception as exc:
            self._failed(exc)


class ReadCache:
    """An LRU of read-model results for one database, shared by the threads of a process, with an
    optional shared tier (Redis) behind it."""

    def __init__(self, entries: int = DEFAULT_ENTRIES, shared: SharedTier | None = None,
                 max_bytes: int = DEFAULT_BYTES) -> None:
        # One bound for both limits: every entry weighs its pickle's bytes, and at least an equal share
        # of `max_bytes`, so the LRU holds at most `entries` entries and at most `max_bytes` bytes.
        share = max(1, max_bytes // entries) if entries > 0 else 1
        self._lru: LRUCache | None = (LRUCache(max(max_bytes, share), getsizeof=lambda e: max(share, e.size))
                                      if entries > 0 else None)
        self._lock = threading.Lock()
        self.shared = shared  # unused while the LRU is off: `get` computes before reaching it

    def get(self, conn: Connection, name: str, key: tuple, compute: Callable[[], T]) -> T:
        """The cached result for `key` under the current data token, computing it on a miss. The
        result is shared with every other caller: read it, never change it."""
        return self.get_under(_token_of_transaction(conn) if self._lru is not None else None, name, key, compute)

    def get_under(self, token: str | None, name: str, key: tuple, compute: Callable[[], T]) -> T:
        """`get` with a token the caller read itself (None: compute, uncached), on a connection that
        `compute` never writes on: see `cached_under`."""
        if token is None or self._lru is None:
            READ_CACHE.labels(name, "bypass").inc()
            return compute()
        full = (token, name, key)
        with self._lock:
            stored = self._lru.get(full, _MISSING)
        if stored is not _MISSING:
            READ_CACHE.labels(name, "hit").inc()
            return stored.handed_out(name)
        value = self.shared.get(full) if self.shared is not None else _MISSING
        missed = value is _MISSING
        READ_CACHE.labels(name, "miss" if missed else "shared_hit").inc()
        if missed:
            value = compute()
        blob = _pickled(value)  # its size bounds the LRU; after a miss, the shared tier stores it
        if missed and self.shared is not None and blob is not None:
            self.shared.put(full, blob)
        entry = _Entry(value, blob)
        with self._lock, contextlib.suppress(ValueError):  # ValueError: one result above the whole bound
            self._lru[full] = entry
        return value

    def clear(self) -> None:
        if self._lru is not None:
            with self._lock:
                self._lru.clear()


class _Entry:
    """A stored result; while `check_hits` is on, also the digest of its pickle when stored."""

    __slots__ = ("digest", "size", "value")

    def __init__(self, value: Any, blob: bytes | None) -> None:
        self.value = value
        self.size = len(blob) if blob is not None else 0  # a value that does not pickle weighs its share
        self.digest = hashlib.sha256(blob).digest() if _checking and blob is not None else None

    def handed_out(self, name: str) -> Any:
        if self.digest is not None and _digest(self.value) != self.digest:
            raise CachedValueChanged(f"a caller changed the cached result of {name}: read models and views "
                                     "are shared by every caller; change a copy instead")
        return self.value


def _digest(value: Any) -> bytes | None:
    blob = _pickled(value)
    return hashlib.sha256(blob).digest() if blob is not None else None


def _pickled(value: Any) -> bytes | None:
    """A value's pickle for the shared tier (None for a value that does not pickle: kept per process)."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None


_caches: weakref.WeakKeyDictionary[Engine, ReadCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def configure(engine: Engine, entries: int, max_bytes: int = DEFAULT_BYTES) -> ReadCache:
    """Give one database a fresh cache of `entries` results and `max_bytes` in this process (the app
    factory calls this first, with `Config.read_cache_entries` and `Config.read_cache_mb`; `share`
    then adds the Redis tier)."""
    with _caches_lock:
        cache = _caches[engine] = ReadCache(entries, max_bytes=max_bytes)
        return cache


def cache_for(engine: Engine) -> ReadCache:
    """The process's cache for one database (made on first use with the default size unless configured)."""
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = ReadCache(DEFAULT_ENTRIES)
        return cache


def cached_call(conn: Connection, name: str, key: tuple, compute: Callable[[], T]) -> T:
    """`compute()` cached under `name` and `key` (which must name everything the result depends on
    besides the data: the asker's scope key, the arguments). An unhashable key computes uncached."""
    try:
        frozen = _frozen(key)
    except TypeError:
        return compute()
    return cache_for(conn.engine).get(conn, name, frozen, compute)


def cached_under(engine: Engine, token: str | None, name: str, key: tuple, compute: Callable[[], T]) -> T:
    """`cached_call` under a data token the caller read beforehand (`TOKEN_COLUMN` beside its own
    columns, saving the lookup), for a `compute` that only reads: a result is then never newer data
    filed under an older token than a reader with that token could see, as in `ReadCache.get`."""
    try:
        frozen = _frozen(key)
    except TypeError:
        return compute()
    return cache_for(engine).get_under(token, name, frozen, compute)


def share(engine: Engine, client: Any, secret: str | bytes) -> None:
    """Give the database's cache in this process a shared tier in Redis (called by the app factory)."""
    cache_for(engine).shared = SharedTier(client, secret)


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
    one that reads no scoped rows). The first argument may also be a `core.db.Database` (anything
    with an `engine`): the token is then the one the principal was read under (`Principal.data_token`,
    `cached_under`), else read on a connection of its own. The undecorated function stays reachable
    as `fn.uncached`."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        name = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__qualname__}"

        @functools.wraps(fn)
        def wrapper(source: Any, *args: Any, **kwargs: Any) -> T:
            try:
                scope = (args[0].scope_key,) if scoped else ()
                key = (*scope, _frozen(args[1:] if scoped else args), _frozen(kwargs))
            except TypeError:
                return fn(source, *args, **kwargs)

            def compute() -> T:
                return fn(source, *args, **kwargs)

            if isinstance(source, Connection):
                return cache_for(source.engine).get(source, name, key, compute)
            token = getattr(args[0], "data_token", None) if scoped else None
            if token is not None:  # the request's principal knows the token: no lookup of its own
                return cache_for(source.engine).get_under(token, name, key, compute)
            with source.engine.connect() as conn:
                return cache_for(source.engine).get(conn, name, key, compute)

        wrapper.uncached = fn  # type: ignore[attr-defined]
        return wrapper

    return decorate
