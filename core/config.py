"""One configuration object, read from the environment with safe embedded defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

# Values that must never be accepted as a production secret.
_WEAK_SECRETS = {"", "dev", "change-me", "changeme", "secret", "default", "please-change"}


class ConfigError(RuntimeError):
    """Raised when the environment cannot run the app safely; the message says what to set."""


@dataclass(frozen=True)
class ImportLimits:
    """How big an imported file may be, checked before and while it is read (core.imports.readers).

    A small .xlsx can expand to gigabytes (it is a zip archive), so its declared sizes are checked
    before anything is unpacked and rows are counted as they stream in. The defaults leave room for
    the largest file the upload limits let through (20 MB on the API, 10 MB on the page): about a
    million rows of a long-layout file, whose sheet XML is ~230 MB.
    """

    max_rows: int = 1_000_000  # data rows below the header (DIGICADENCE_IMPORT_MAX_ROWS)
    max_expanded_bytes: int = 256 * 1024 * 1024  # unpacked size of an .xlsx, size of a CSV (…_MAX_EXPANDED_MB)
    max_columns: int = 5_000  # long files have 4-6, wide ones a column per metric or channel
    max_cells: int = 10_000_000  # rows × columns: a million rows of ten columns
    max_field_chars: int = 32_767  # one cell; Excel's own limit
    max_members: int = 1_000  # parts of an .xlsx archive; a workbook has tens
    max_ratio: int = 100  # how much one part may expand (spreadsheets: ~10-30 to 1; bombs: hundreds)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ImportLimits:
        """DIGICADENCE_IMPORT_MAX_ROWS and DIGICADENCE_IMPORT_MAX_EXPANDED_MB, else the defaults."""
        env = dict(os.environ if env is None else env)
        rows = _positive_int(env, "DIGICADENCE_IMPORT_MAX_ROWS", cls.max_rows)
        megabytes = _positive_int(env, "DIGICADENCE_IMPORT_MAX_EXPANDED_MB", cls.max_expanded_bytes // 1048576)
        return cls(max_rows=rows, max_expanded_bytes=megabytes * 1048576)


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r}: must be above 0")
    return value


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    """Everything the app reads from its environment, resolved once at start-up."""

    database_url: str
    secret_key: str
    redis_url: str | None = None
    # Bearer token Prometheus sends to /metrics; unset: /metrics answers direct loopback requests only.
    metrics_token: str | None = None
    demo_mode: bool = False
    instance_dir: Path = INSTANCE_DIR
    cache_dir: Path = field(default_factory=lambda: INSTANCE_DIR / "cache")
    host: str = "127.0.0.1"
    port: int = 8050
    demo_seed: int = 42
    # Served over HTTPS (usually behind a TLS proxy): cookies get the Secure flag.
    https: bool = False
    # Proxies in front that append X-Forwarded-For/-Proto (0: none). The client address (rate limits,
    # audit) and the scheme are then read from those headers, trusting only this many hops.
    proxy_hops: int = 0
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    signin_rate_per_ip: str = "30 per minute"
    signin_rate_per_account: str = "10 per minute"
    api_rate: str = "600 per minute"  # per bearer token (or address) on /api/v1
    # Where sessions live: "redis" (the default when REDIS_URL is set) or "database". With Redis a
    # Redis outage signs everyone out of reach (503 page); with the database, pages keep serving.
    session_store: str | None = None
    # Caps on imported files (rows, unpacked size, …); see ImportLimits.
    import_limits: ImportLimits = field(default_factory=ImportLimits)
    # Request body limits (413/400 with the reason above them). Every request, file uploads included
    # (the import page sends a 10 MB file base64-encoded, about 13.4 MB; the API takes 20 MB files), is refused above
    # max_request_bytes; a JSON body (a Dash callback that takes no file, an /api/v1 call) above
    # max_json_bytes; JSON nested deeper than max_json_depth, before it is parsed.
    max_request_bytes: int = 24 * 1024 * 1024
    max_json_bytes: int = 2 * 1024 * 1024
    max_json_depth: int = 100

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, demo_default: bool = False) -> Config:
        """Build the config from `env` (default: os.environ).

        `demo_default` is how `python app.py` opts into the embedded demo; under gunicorn
        demo mode must be asked for with DIGICADENCE_DEMO=1.
        """
        env = dict(os.environ if env is None else env)
        demo = _truthy(env["DIGICADENCE_DEMO"]) if "DIGICADENCE_DEMO" in env else demo_default
        instance_dir = _instance_dir(env)
        database_url = database_url_from_env(env)
        secret = env.get("SECRET_KEY", "")
        if secret.strip().lower() in _WEAK_SECRETS or len(secret) < 16:
            if not demo:
                raise ConfigError(
                    "SECRET_KEY is missing or weak. Set SECRET_KEY to a random value of at least "
                    "16 characters (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`), "
                    "or run the embedded demo with DIGICADENCE_DEMO=1."
                )
            secret = _demo_secret(instance_dir)
        return cls(
            database_url=database_url,
            secret_key=secret,
            redis_url=env.get("REDIS_URL") or None,
            metrics_token=env.get("METRICS_TOKEN") or None,
            demo_mode=demo,
            instance_dir=instance_dir,
            cache_dir=Path(env.get("DIGICADENCE_CACHE_DIR") or instance_dir / "cache"),
            host=env.get("HOST", "127.0.0.1"),
            port=int(env.get("PORT", "8050")),
            demo_seed=int(env.get("DIGICADENCE_DEMO_SEED", "42")),
            https=_truthy(env.get("DIGICADENCE_HTTPS")),
            proxy_hops=int(env.get("DIGICADENCE_PROXY_HOPS", "0")),
            session_idle_minutes=int(env.get("DIGICADENCE_SESSION_IDLE_MINUTES", "30")),
            session_absolute_hours=int(env.get("DIGICADENCE_SESSION_ABSOLUTE_HOURS", "12")),
            signin_rate_per_ip=env.get("DIGICADENCE_SIGNIN_RATE_PER_IP", "30 per minute"),
            signin_rate_per_account=env.get("DIGICADENCE_SIGNIN_RATE_PER_ACCOUNT", "10 per minute"),
            api_rate=env.get("DIGICADENCE_API_RATE", "600 per minute"),
            session_store=_session_store(env),
            import_limits=ImportLimits.from_env(env),
            max_request_bytes=_positive(env, "DIGICADENCE_MAX_REQUEST_BYTES", cls.max_request_bytes),
            max_json_bytes=_positive(env, "DIGICADENCE_MAX_JSON_BYTES", cls.max_json_bytes),
            max_json_depth=_positive(env, "DIGICADENCE_MAX_JSON_DEPTH", cls.max_json_depth),
        )


def _positive(env: dict[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0")
    return value


def _session_store(env: dict[str, str]) -> str | None:
    value = (env.get("DIGICADENCE_SESSION_STORE") or "").strip().lower() or None
    if value not in (None, "redis", "database"):
        raise ConfigError(f"DIGICADENCE_SESSION_STORE must be 'redis' or 'database', not {value!r}")
    if value == "redis" and not env.get("REDIS_URL"):
        raise ConfigError("DIGICADENCE_SESSION_STORE=redis needs REDIS_URL")
    return value


def _instance_dir(env: dict[str, str]) -> Path:
    return Path(env.get("DIGICADENCE_INSTANCE_DIR") or INSTANCE_DIR)


def database_url_from_env(env: dict[str, str] | None = None) -> str:
    """DATABASE_URL, or the embedded SQLite file; what the app and every CLI connect to."""
    env = dict(os.environ if env is None else env)
    url = env.get("DATABASE_URL") or f"sqlite:///{_instance_dir(env) / 'digicadence.db'}"
    return normalize_database_url(url)


def normalize_database_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs given in the common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _demo_secret(instance_dir: Path) -> str:
    """A random secret kept in the instance folder so demo sessions survive a restart."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / "demo_secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
