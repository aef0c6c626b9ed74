"""One configuration object, read from the environment with safe embedded defaults.

This is the only module that reads the process environment (tests/unit/test_one_config.py keeps it
so): everything else receives a `Config`, or one of its parts, from whoever built it. Command-line
tools that must run without SECRET_KEY (backups, key rotation, curve fits) build only the part they
need (`core.ops.config.OpsConfig`, `database_url_from_env`). Secrets the app makes for itself when none is given
(demo session key, Fernet key, JWT keys) are written by `ensure_secret_file`, and only by it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

# Values that must never be accepted as a production secret.
_WEAK_SECRETS = {"", "dev", "change-me", "changeme", "secret", "default", "please-change"}


class ConfigError(RuntimeError):
    """Raised when the environment cannot run the app safely; the message says what to set."""


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of `env`, or of the process environment: the one place that reads it."""
    return dict(os.environ if env is None else env)


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
        env = _environment(env)
        rows = _whole(env, "DIGICADENCE_IMPORT_MAX_ROWS", cls.max_rows, low=1)
        megabytes = _whole(env, "DIGICADENCE_IMPORT_MAX_EXPANDED_MB", cls.max_expanded_bytes // 1048576, low=1)
        return cls(max_rows=rows, max_expanded_bytes=megabytes * 1048576)


def _whole(env: dict[str, str], name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """A whole number between `low` and `high` from `env[name]`, else `default`; ConfigError naming it."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name}={raw!r}: must be {bounds}")
    return value


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SecuritySettings:
    """Costs, limits and lifetimes used by the accounts service (tests lower the bcrypt cost)."""

    bcrypt_rounds: int = 12  # DIGICADENCE_BCRYPT_ROUNDS
    lockout_threshold: int = 5  # DIGICADENCE_LOCKOUT_THRESHOLD
    lockout_minutes: int = 30  # DIGICADENCE_LOCKOUT_MINUTES
    password_min_length: int = 12
    password_max_length: int = 256
    password_history: int = 5
    invite_hours: int = 72
    totp_issuer: str = "Digi-Cadence"
    recovery_codes: int = 10

    @property
    def lockout_duration(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecuritySettings:
        """DIGICADENCE_BCRYPT_ROUNDS (4-31), DIGICADENCE_LOCKOUT_THRESHOLD, DIGICADENCE_LOCKOUT_MINUTES."""
        env = _environment(env)
        return cls(
            bcrypt_rounds=_whole(env, "DIGICADENCE_BCRYPT_ROUNDS", cls.bcrypt_rounds, low=4, high=31),
            lockout_threshold=_whole(env, "DIGICADENCE_LOCKOUT_THRESHOLD", cls.lockout_threshold, low=1),
            lockout_minutes=_whole(env, "DIGICADENCE_LOCKOUT_MINUTES", cls.lockout_minutes, low=1),
        )


FERNET_KEYS_ENV = "DIGICADENCE_FERNET_KEYS"
JWT_KEYS_ENV = "DIGICADENCE_JWT_KEYS"
MIN_JWT_KEY_BYTES = 32  # HS256 wants a key at least as long as its hash


def parse_jwt_keys(raw: str, source: str = JWT_KEYS_ENV) -> tuple[tuple[str, str], ...]:
    """`kid:secret,kid:secret` (the first signs) as pairs; each secret at least 32 bytes.

    The one parser for the variable and for the generated `instance/jwt.key`; `source` names which
    in the error.
    """
    keys: dict[str, str] = {}
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        kid, sep, secret = part.partition(":")
        if not sep or not kid or len(secret.encode()) < MIN_JWT_KEY_BYTES:
            raise ConfigError(f"{source}: each entry is kid:secret with a secret of at least "
                              f"{MIN_JWT_KEY_BYTES} characters")
        keys[kid] = secret
    if not keys:
        raise ConfigError(f"{source} holds no key")
    return tuple(keys.items())


def _fernet_keys(env: dict[str, str]) -> tuple[str, ...]:
    """DIGICADENCE_FERNET_KEYS, comma-separated; each must be a Fernet key (32 bytes, URL-safe base64)."""
    keys = tuple(k.strip() for k in env.get(FERNET_KEYS_ENV, "").split(",") if k.strip())
    for number, key in enumerate(keys, 1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ConfigError(
                f"{FERNET_KEYS_ENV}: key {number} is not a Fernet key (44 characters of URL-safe base64); make one "
                f"with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`")
    return keys


@dataclass(frozen=True)
class Keys:
    """Encryption and signing keys given in the environment; empty means: use (or make) the instance file.

    `fernet` encrypts secrets at rest (core.security.crypto; the first encrypts, all decrypt);
    `jwt` signs API tokens (core.security.api_tokens; the first signs, all verify).
    """

    fernet: tuple[str, ...] = ()  # DIGICADENCE_FERNET_KEYS
    jwt: tuple[tuple[str, str], ...] = ()  # DIGICADENCE_JWT_KEYS, (kid, secret) pairs

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Keys:
        env = _environment(env)
        raw_jwt = env.get(JWT_KEYS_ENV, "").strip()
        return cls(fernet=_fernet_keys(env), jwt=parse_jwt_keys(raw_jwt) if raw_jwt else ())


def _totp_secret(env: dict[str, str]) -> str | None:
    """DIGICADENCE_DEMO_TOTP_SECRET: base32, as authenticator apps take it; refused at start if malformed."""
    value = (env.get("DIGICADENCE_DEMO_TOTP_SECRET") or "").strip() or None
    if value is not None:
        try:
            base64.b32decode(value + "=" * (-len(value) % 8), casefold=True)
        except (binascii.Error, ValueError):
            raise ConfigError("DIGICADENCE_DEMO_TOTP_SECRET is not base32 (letters A-Z and digits 2-7); make one "
                              "with `python -c 'import pyotp; print(pyotp.random_base32())'`") from None
    return value


@dataclass(frozen=True)
class MailSettings:
    """Report subscriptions' sending (core.subscriptions): SMTP, the public address links point to, retries.

    No DIGICADENCE_SMTP_HOST (the embedded default): nothing is mailed, and each delivery is failed with
    "mail is not configured", so the delivery log says why nobody got anything.
    """

    smtp_host: str | None = None  # DIGICADENCE_SMTP_HOST
    smtp_port: int = 587  # DIGICADENCE_SMTP_PORT
    mail_from: str = "digi-cadence@localhost"  # DIGICADENCE_MAIL_FROM
    smtp_user: str | None = None  # DIGICADENCE_SMTP_USER / DIGICADENCE_SMTP_PASSWORD
    smtp_password: str | None = None
    smtp_starttls: bool = False  # DIGICADENCE_SMTP_STARTTLS
    timeout_s: int = 15  # DIGICADENCE_SMTP_TIMEOUT_S, also the webhook's
    public_url: str = "http://127.0.0.1:8050"  # DIGICADENCE_PUBLIC_URL: links in e-mails and webhooks
    max_attempts: int = 4  # DIGICADENCE_DELIVERY_MAX_ATTEMPTS: sends of one delivery before it is failed
    retry_base_s: int = 60  # DIGICADENCE_DELIVERY_RETRY_BASE_S: the wait after attempt n is base × 2^(n-1)
    tick_s: int = 60  # DIGICADENCE_SUBSCRIPTION_TICK_S: the embedded schedule's timer (0: off)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, port: int = 8050) -> MailSettings:
        env = _environment(env)
        host = (env.get("DIGICADENCE_SMTP_HOST") or "").strip() or None
        return cls(smtp_host=host, smtp_port=_whole(env, "DIGICADENCE_SMTP_PORT", cls.smtp_port, low=1, high=65535),
                   mail_from=(env.get("DIGICADENCE_MAIL_FROM") or "").strip() or cls.mail_from,
                   smtp_user=env.get("DIGICADENCE_SMTP_USER") or None,
                   smtp_password=env.get("DIGICADENCE_SMTP_PASSWORD") or None,
                   smtp_starttls=_truthy(env.get("DIGICADENCE_SMTP_STARTTLS")),
                   timeout_s=_whole(env, "DIGICADENCE_SMTP_TIMEOUT_S", cls.timeout_s, low=1, high=300),
                   public_url=(env.get("DIGICADENCE_PUBLIC_URL") or f"http://127.0.0.1:{port}").strip().rstrip("/"),
                   max_attempts=_whole(env, "DIGICADENCE_DELIVERY_MAX_ATTEMPTS", cls.max_attempts, low=1, high=20),
                   retry_base_s=_whole(env, "DIGICADENCE_DELIVERY_RETRY_BASE_S", cls.retry_base_s, low=1),
                   tick_s=_whole(env, "DIGICADENCE_SUBSCRIPTION_TICK_S", cls.tick_s))


@dataclass(frozen=True)
class AlertingSettings:
    """Security alerts (core.security_alerts) beyond each organization's settings page.

    System-wide findings (a broken audit chain; lockouts, denials, grants and new networks of System
    Administrators, who belong to no organization) go to these contacts: the operators, like the SMTP server
    set here. The whole audit chain is walked at least every `chain_full_hours` (new events at every pass).
    """

    system_contacts: tuple[str, ...] = ()  # DIGICADENCE_SECURITY_CONTACTS: e-mail addresses, comma-separated
    system_webhook_url: str | None = None  # DIGICADENCE_SECURITY_WEBHOOK_URL: Slack-compatible
    chain_full_hours: int = 6  # DIGICADENCE_SECURITY_CHAIN_FULL_HOURS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertingSettings:
        env = _environment(env)
        contacts = tuple(a.strip().lower() for a in (env.get("DIGICADENCE_SECURITY_CONTACTS") or "").replace(
            ";", ",").split(",") if a.strip())
        bad = [a for a in contacts if a.count("@") != 1 or a.startswith("@") or a.endswith("@")]
        if bad:
            raise ConfigError(f"DIGICADENCE_SECURITY_CONTACTS: {bad[0]!r} is not an e-mail address "
                              "(give addresses separated by commas)")
        webhook = (env.get("DIGICADENCE_SECURITY_WEBHOOK_URL") or "").strip() or None
        if webhook is not None and not webhook.startswith(("https://", "http://")):
            raise ConfigError("DIGICADENCE_SECURITY_WEBHOOK_URL: expected an address starting with https://")
        return cls(system_contacts=contacts, system_webhook_url=webhook,
                   chain_full_hours=_whole(env, "DIGICADENCE_SECURITY_CHAIN_FULL_HOURS", cls.chain_full_hours,
                                           low=1, high=168))


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
    security: SecuritySettings = field(default_factory=SecuritySettings)
    keys: Keys = field(default_factory=Keys)
    # Read-model results kept per process and database (core.read_cache); 0 turns the cache off.
    read_cache_entries: int = 512
    # ... and the megabytes their pickles may hold in all, whatever the count (a big portfolio's entries are big).
    read_cache_mb: int = 64
    # Demo users (core.security.demo_users): a fixed password and TOTP secret instead of fresh random ones.
    demo_password: str | None = None
    demo_totp_secret: str | None = None
    # The job queue's DIGICADENCE_JOB_<FIELD> variables as given (parsed by core.jobs.queue.QueueSettings),
    # the Celery queue name (one Redis can serve several deployments), and the worker's metrics port
    # and CPU niceness (worker.py).
    job_env: dict[str, str] = field(default_factory=dict)
    celery_queue: str = "celery"
    worker_metrics_port: int | None = None
    worker_nice: int = 10
    # WebAuthn (security keys, passkeys): the relying party id (the site's domain) and the origin the
    # browser reports (https://host[:port]); unset: both read from each request's host.
    webauthn_rp_id: str | None = None
    webauthn_origin: str | None = None
    # Report subscriptions: SMTP, the public address, delivery retries, the embedded schedule's timer.
    mail: MailSettings = field(default_factory=MailSettings)
    # Security alerts: the system's contacts and how often the whole audit chain is walked.
    alerting: AlertingSettings = field(default_factory=AlertingSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, demo_default: bool = False) -> Config:
        """Build the config from `env` (default: os.environ).

        `demo_default` is how `python app.py` opts into the embedded demo; under gunicorn
        demo mode must be asked for with DIGICADENCE_DEMO=1.
        """
        env = _environment(env)
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
            host=env.get("HOST", "127.0.0.1"),
            port=_whole(env, "PORT", cls.port, low=1, high=65535),
            demo_seed=_whole(env, "DIGICADENCE_DEMO_SEED", cls.demo_seed),
            https=_truthy(env.get("DIGICADENCE_HTTPS")),
            proxy_hops=_whole(env, "DIGICADENCE_PROXY_HOPS", cls.proxy_hops),
            session_idle_minutes=_whole(env, "DIGICADENCE_SESSION_IDLE_MINUTES", cls.session_idle_minutes, low=1),
            session_absolute_hours=_whole(env, "DIGICADENCE_SESSION_ABSOLUTE_HOURS", cls.session_absolute_hours, low=1),
            signin_rate_per_ip=env.get("DIGICADENCE_SIGNIN_RATE_PER_IP", "30 per minute"),
            signin_rate_per_account=env.get("DIGICADENCE_SIGNIN_RATE_PER_ACCOUNT", "10 per minute"),
            api_rate=env.get("DIGICADENCE_API_RATE", "600 per minute"),
            session_store=_session_store(env),
            import_limits=ImportLimits.from_env(env),
            max_request_bytes=_whole(env, "DIGICADENCE_MAX_REQUEST_BYTES", cls.max_request_bytes, low=1),
            max_json_bytes=_whole(env, "DIGICADENCE_MAX_JSON_BYTES", cls.max_json_bytes, low=1),
            max_json_depth=_whole(env, "DIGICADENCE_MAX_JSON_DEPTH", cls.max_json_depth, low=1),
            security=SecuritySettings.from_env(env),
            keys=Keys.from_env(env),
            read_cache_entries=_whole(env, "DIGICADENCE_READ_CACHE_ENTRIES", cls.read_cache_entries),
            read_cache_mb=_whole(env, "DIGICADENCE_READ_CACHE_MB", cls.read_cache_mb, low=1),
            demo_password=env.get("DIGICADENCE_DEMO_PASSWORD") or None,
            demo_totp_secret=_totp_secret(env),
            job_env={k: v for k, v in env.items() if k.startswith("DIGICADENCE_JOB_")},
            celery_queue=env.get("DIGICADENCE_CELERY_QUEUE") or "celery",
            worker_metrics_port=_whole(env, "DIGICADENCE_WORKER_METRICS_PORT", 0, low=1, high=65535)
            if (env.get("DIGICADENCE_WORKER_METRICS_PORT") or "").strip() else None,
            worker_nice=_whole(env, "DIGICADENCE_WORKER_NICE", 10, low=-20, high=19),
            webauthn_rp_id=(env.get("DIGICADENCE_WEBAUTHN_RP_ID") or "").strip().lower() or None,
            webauthn_origin=(env.get("DIGICADENCE_WEBAUTHN_ORIGIN") or "").strip().rstrip("/") or None,
            mail=MailSettings.from_env(env, _whole(env, "PORT", cls.port, low=1, high=65535)),
            alerting=AlertingSettings.from_env(env),
        )


def _session_store(env: dict[str, str]) -> str | None:
    value = (env.get("DIGICADENCE_SESSION_STORE") or "").strip().lower() or None
    if value not in (None, "redis", "database"):
        raise ConfigError(f"DIGICADENCE_SESSION_STORE must be 'redis' or 'database', not {value!r}")
    if value == "redis" and not env.get("REDIS_URL"):
        raise ConfigError("DIGICADENCE_SESSION_STORE=redis needs REDIS_URL")
    return value


def _instance_dir(env: dict[str, str]) -> Path:
    return Path(env.get("DIGICADENCE_INSTANCE_DIR") or INSTANCE_DIR)


def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL, or the embedded SQLite file; what the app and every CLI connect to."""
    env = _environment(env)
    url = env.get("DATABASE_URL") or f"sqlite:///{_instance_dir(env) / 'digicadence.db'}"
    return normalize_database_url(url)


def normalize_database_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs given in the common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def prometheus_multiproc_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR, where each process writes its metric files (None: in memory).

    prometheus_client reads this variable itself when it is imported, so it belongs to the process
    (deploy/gunicorn.conf.py sets it before any worker starts), not to one app's Config.
    """
    value = _environment(env).get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def child_process_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child process (pg_dump, pg_restore): this process's, plus `extra`."""
    return {**_environment(None), **extra}


def _demo_secret(instance_dir: Path) -> str:
    """A random secret kept in the instance folder so demo sessions survive a restart."""
    return ensure_secret_file(instance_dir / "demo_secret_key", lambda: secrets.token_hex(32))


def ensure_secret_file(path: Path, make: Callable[[], str]) -> str:
    """The secret in `path`; when there is none yet, `make()` one and store it readable by the owner only.

    The value is written to a private (0600) temporary file in the same folder and then linked to
    `path`, which fails if `path` exists: a reader never sees a partial file, and of two processes
    starting at once the second keeps the first one's secret instead of overwriting it.
    """
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise ConfigError(f"{path} is empty (an interrupted write?): delete it and start again")
    return value
