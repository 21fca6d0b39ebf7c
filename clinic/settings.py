"""Configuration from the environment, read in one place.

Every variable the assistant reads is read here and listed in docs/configuration.md.
Secrets (the webhook secret, the SMTP password) come only from the environment.
``delivery_settings()`` is read once at action-server start and checked there,
so a half-configured hand-off stops the server with a message naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import List, Mapping, Optional
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BOOKINGS_DB = PROJECT_ROOT / "var" / "bookings.db"


MIN_WEBHOOK_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """An environment variable is missing, malformed or inconsistent; the message names it."""


def clinic_profile_path() -> Path:
    """Path of the clinic profile: ``CLINIC_PROFILE``, else ``clinic.yml`` at the project root."""
    return Path(os.environ.get("CLINIC_PROFILE") or PROJECT_ROOT / "clinic.yml")


def faq_dir() -> Path:
    """Folder holding one ``<topic>.yml`` file per FAQ topic."""
    return PROJECT_ROOT / "data" / "faq"


def tracker_db_url(endpoints: Optional[Path] = None) -> str:
    """The SQLAlchemy URL of the conversation store: ``TRACKER_DB_URL`` when set (a clinic
    group's shared PostgreSQL, docs/deployment.md), else the one named in endpoints.yml."""
    import yaml

    if os.environ.get("TRACKER_DB_URL"):
        return os.environ["TRACKER_DB_URL"]
    endpoints = endpoints or PROJECT_ROOT / "endpoints.yml"
    config = (yaml.safe_load(endpoints.read_text()) or {}).get("tracker_store") or {}
    if str(config.get("type", "")).upper() != "SQL" and not str(config.get("type", "")).endswith("SQLTrackerStore"):
        raise SettingsError("endpoints.yml has no SQL tracker_store (see docs/deployment.md)")
    dialect = config.get("dialect", "sqlite")
    db = os.path.expandvars(str(config.get("db", "rasa.db")))
    if dialect == "sqlite":
        path = Path(db) if Path(db).is_absolute() else PROJECT_ROOT / db
        return f"sqlite:///{path}"
    user = os.path.expandvars(str(config.get("username") or ""))
    password = os.path.expandvars(str(config.get("password") or ""))
    credentials = f"{user}:{password}@" if user else ""
    port = f":{config['port']}" if config.get("port") else ""
    return f"{dialect}://{credentials}{config.get('url', 'localhost')}{port}/{db}"


def bookings_db_url(env: Optional[Mapping[str, str]] = None) -> str:
    """``BOOKINGS_DB_URL`` (an SQLAlchemy URL), else an SQLite file at ``var/bookings.db``."""
    env = os.environ if env is None else env
    return env.get("BOOKINGS_DB_URL") or f"sqlite:///{DEFAULT_BOOKINGS_DB}"


@dataclass(frozen=True)
class SmtpSettings:
    """Where booking emails go, and how to reach the mail server."""

    host: str
    port: int
    user: Optional[str]
    password: Optional[str]
    to_address: str
    from_address: Optional[str]
    starttls: str  # "always" (refuse a server without STARTTLS) or "never" (a mail server on this machine)


@dataclass(frozen=True)
class DeliverySettings:
    """How booking requests are handed to the clinic, read from the environment."""

    webhook_url: Optional[str]
    webhook_secret: Optional[str]
    smtp: Optional[SmtpSettings]
    timeout_seconds: float
    retry_base_seconds: float
    retry_max_seconds: float
    max_attempts: int
    poll_seconds: float

    @property
    def channels(self) -> tuple:
        """The delivery channels configured, in the order they are tried."""
        return tuple(name for name, on in (("webhook", self.webhook_url), ("email", self.smtp)) if on)


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum:g}, got {raw!r}")
    return value


def delivery_settings(env: Optional[Mapping[str, str]] = None) -> DeliverySettings:
    """Reads and checks the hand-off variables.

    Raises:
        SettingsError: naming the variable, e.g. a webhook URL without ``CLINIC_WEBHOOK_SECRET``.
    """
    env = os.environ if env is None else env
    webhook_url = env.get("CLINIC_BOOKING_WEBHOOK_URL") or None
    webhook_secret = env.get("CLINIC_WEBHOOK_SECRET") or None
    if webhook_url:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError("CLINIC_BOOKING_WEBHOOK_URL: must be a URL starting with https://")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            # A booking (name, phone, health words) must not cross a network in clear.
            raise SettingsError(
                "CLINIC_BOOKING_WEBHOOK_URL: must start with https:// "
                "(http:// only to this machine: 127.0.0.1, ::1 or localhost)"
            )
        if not webhook_secret:
            raise SettingsError(
                "CLINIC_WEBHOOK_SECRET: required when CLINIC_BOOKING_WEBHOOK_URL is set "
                "(every request to the clinic is signed with it)"
            )
        if len(webhook_secret) < MIN_WEBHOOK_SECRET_LENGTH:
            raise SettingsError(
                f"CLINIC_WEBHOOK_SECRET: use at least {MIN_WEBHOOK_SECRET_LENGTH} random characters "
                "(e.g. `openssl rand -hex 32`): a short one can be guessed and signatures forged"
            )
    smtp = None
    smtp_host = env.get("SMTP_HOST") or None
    to_address = env.get("CLINIC_BOOKING_EMAIL") or None
    if smtp_host or to_address:
        if not smtp_host:
            raise SettingsError("SMTP_HOST: required when CLINIC_BOOKING_EMAIL is set")
        if not to_address or "@" not in to_address:
            raise SettingsError("CLINIC_BOOKING_EMAIL: required (an email address) when SMTP_HOST is set")
        starttls = (env.get("SMTP_STARTTLS") or "always").lower()
        if starttls == "auto":
            raise SettingsError(
                "SMTP_STARTTLS: auto would send the password and the booking in clear to a server that "
                "offers no STARTTLS (what an attacker who strips it presents); use always (the default), "
                "or never for a mail server on this machine"
            )
        if starttls not in ("always", "never"):
            raise SettingsError(f"SMTP_STARTTLS: expected always or never, got {starttls!r}")
        smtp = SmtpSettings(
            host=smtp_host,
            port=int(_number(env, "SMTP_PORT", 587, 1)),
            user=env.get("SMTP_USER") or None,
            password=env.get("SMTP_PASSWORD") or None,
            to_address=to_address,
            from_address=env.get("SMTP_FROM") or None,
            starttls=starttls,
        )
    return DeliverySettings(
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        smtp=smtp,
        timeout_seconds=_number(env, "DELIVERY_TIMEOUT_SECONDS", 10.0, 0.1),
        retry_base_seconds=_number(env, "DELIVERY_RETRY_BASE_SECONDS", 5.0, 0.01),
        retry_max_seconds=_number(env, "DELIVERY_RETRY_MAX_SECONDS", 3600.0, 0.01),
        max_attempts=int(_number(env, "DELIVERY_MAX_ATTEMPTS", 25, 1)),
        poll_seconds=_number(env, "DELIVERY_POLL_SECONDS", 2.0, 0.05),
    )


def action_server_host(env: Optional[Mapping[str, str]] = None) -> str:
    """``ACTION_SERVER_HOST``: where the action server listens; loopback unless told otherwise."""
    env = os.environ if env is None else env
    return env.get("ACTION_SERVER_HOST") or "127.0.0.1"


def action_server_port(env: Optional[Mapping[str, str]] = None) -> int:
    """``ACTION_SERVER_PORT``: the action server's port, 5055 unless told otherwise."""
    env = os.environ if env is None else env
    return int(_number(env, "ACTION_SERVER_PORT", 5055, 1))


def website_allowed_origins(env: Optional[Mapping[str, str]] = None) -> Optional[List[str]]:
    """``WEBSITE_ALLOWED_ORIGINS``: sites that may embed the widget, separated by commas or spaces.

    When set it replaces ``website.allowed_origins`` in clinic.yml (a staging site, say);
    ``None`` when unset.
    """
    env = os.environ if env is None else env
    raw = env.get("WEBSITE_ALLOWED_ORIGINS")
    if raw is None:
        return None
    return [part for part in raw.replace(",", " ").split() if part]


def website_max_message_length(env: Optional[Mapping[str, str]] = None) -> Optional[int]:
    """``WEBSITE_MAX_MESSAGE_LENGTH``: the longest message the widget may send; ``None`` when unset."""
    env = os.environ if env is None else env
    if not env.get("WEBSITE_MAX_MESSAGE_LENGTH"):
        return None
    return int(_number(env, "WEBSITE_MAX_MESSAGE_LENGTH", 2000, 20))


def clinic_now(env: Optional[Mapping[str, str]] = None) -> Optional[datetime]:
    """``CLINIC_NOW``: pretend it is this moment (ISO 8601 with an offset), for tests and demos
    of what the assistant says in and out of opening hours. Unset in real use.

    Raises:
        SettingsError: when it is not an ISO 8601 moment with an offset.
    """
    env = os.environ if env is None else env
    raw = env.get("CLINIC_NOW")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SettingsError(
            f"CLINIC_NOW: expected an ISO 8601 moment like 2026-11-23T10:00:00-05:00, got {raw!r}"
        ) from None
    if moment.tzinfo is None:
        raise SettingsError("CLINIC_NOW: give the offset too, e.g. 2026-11-23T10:00:00-05:00")
    return moment


@dataclass(frozen=True)
class Limit:
    """``count`` messages per ``seconds``."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Optional["Limit"]:
        """``"30/60"`` (30 per 60 seconds); ``"off"`` or ``"0"`` for no limit.

        Raises:
            ValueError: for anything else, with the expected form.
        """
        cleaned = text.strip().lower()
        if cleaned in ("off", "0", "none"):
            return None
        try:
            count, seconds = cleaned.split("/")
            limit = cls(int(count), float(seconds))
        except ValueError:
            raise ValueError(f"expected <messages>/<seconds> such as 30/60, or off; got {text!r}") from None
        if limit.count < 1 or limit.seconds <= 0:
            raise ValueError(f"expected at least 1 message per a positive number of seconds; got {text!r}")
        return limit


def website_rate_limits(env: Optional[Mapping[str, str]] = None) -> tuple:
    """``WEBSITE_RATE_LIMIT_PER_SENDER`` (default 30/60) and ``WEBSITE_RATE_LIMIT_PER_ADDRESS``
    (default 120/60): messages per seconds for one conversation and for one client address;
    ``off`` disables one. Returns ``(per_sender, per_address)`` as ``Limit`` or None.

    Raises:
        SettingsError: naming the variable when a value is malformed.
    """
    env = os.environ if env is None else env
    return _limits(env, (("WEBSITE_RATE_LIMIT_PER_SENDER", "30/60"), ("WEBSITE_RATE_LIMIT_PER_ADDRESS", "120/60")))


def _limits(env: Mapping[str, str], names: tuple) -> tuple:
    limits = []
    for name, default in names:
        try:
            limits.append(Limit.parse(env.get(name) or default))
        except ValueError as error:
            raise SettingsError(f"{name}: {error}") from None
    return tuple(limits)


def rest_rate_limits(env: Optional[Mapping[str, str]] = None) -> tuple:
    """``REST_RATE_LIMIT_PER_SENDER`` (default 30/60) and ``REST_RATE_LIMIT_PER_ADDRESS`` (default
    120/60) for the REST channel, as for the website channel; ``off`` disables one.

    Raises:
        SettingsError: naming the variable when a value is malformed.
    """
    env = os.environ if env is None else env
    return _limits(env, (("REST_RATE_LIMIT_PER_SENDER", "30/60"), ("REST_RATE_LIMIT_PER_ADDRESS", "120/60")))


def rest_limits_loopback(env: Optional[Mapping[str, str]] = None) -> bool:
    """``REST_RATE_LIMIT_LOOPBACK``: ``exempt`` (default) lets clients on this machine (tools,
    tests, the bench, integrations on the same host) send without the REST rate limits; ``limited``
    counts them too.

    Raises:
        SettingsError: for any other value.
    """
    env = os.environ if env is None else env
    value = (env.get("REST_RATE_LIMIT_LOOPBACK") or "exempt").strip().lower()
    if value not in ("exempt", "limited"):
        raise SettingsError(f"REST_RATE_LIMIT_LOOPBACK: expected exempt or limited, got {value!r}")
    return value == "limited"


DEFAULT_REQUEST_MAX_BYTES = 128 * 1024


def request_max_bytes(env: Optional[Mapping[str, str]] = None) -> int:
    """``SANIC_REQUEST_MAX_SIZE``: the largest request body the Rasa server reads, on every route
    (default 128 KB; Sanic's own default, 100 MB, let four large posts add 135 MB to the server).

    Raises:
        SettingsError: when it is not a whole number of at least 1024.
    """
    env = os.environ if env is None else env
    return int(_number(env, "SANIC_REQUEST_MAX_SIZE", DEFAULT_REQUEST_MAX_BYTES, 1024))


LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or ``localhost``) is this machine: 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)


def action_server_token(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """``ACTION_SERVER_TOKEN``: the shared secret Rasa must send (``Authorization: Bearer <token>``,
    set in endpoints.yml) when the action server is reachable over a network. None when unset.

    Raises:
        SettingsError: when it is set but shorter than 16 characters.
    """
    env = os.environ if env is None else env
    token = env.get("ACTION_SERVER_TOKEN") or None
    if token is not None and len(token) < 16:
        raise SettingsError("ACTION_SERVER_TOKEN: use at least 16 random characters (e.g. `openssl rand -hex 24`)")
    return token


def check_action_server_exposure(host: str, token: Optional[str]) -> None:
    """Refuses a network-reachable action server without a token.

    Raises:
        SettingsError: naming both variables.
    """
    if host not in LOOPBACK_HOSTS and not token:
        raise SettingsError(
            f"ACTION_SERVER_HOST={host} makes the action server reachable over the network: "
            "set ACTION_SERVER_TOKEN too, and send it from endpoints.yml (see docs/configuration.md)"
        )


def console_host(env: Optional[Mapping[str, str]] = None) -> str:
    """``CONSOLE_HOST``: where the staff console listens; loopback unless told otherwise."""
    env = os.environ if env is None else env
    return env.get("CONSOLE_HOST") or "127.0.0.1"


def console_port(env: Optional[Mapping[str, str]] = None) -> int:
    """``CONSOLE_PORT``: the staff console's port, 5056 unless told otherwise."""
    env = os.environ if env is None else env
    return int(_number(env, "CONSOLE_PORT", 5056, 1))


def console_secure_cookies(env: Optional[Mapping[str, str]] = None) -> bool:
    """``CONSOLE_SECURE_COOKIES``: ``1`` marks the console's cookies Secure on every request (it is
    reached only over HTTPS); unset or ``0``, they are Secure when nginx on this machine says the
    request came over HTTPS (``X-Forwarded-Proto: https``).

    Raises:
        SettingsError: for any other value.
    """
    env = os.environ if env is None else env
    value = (env.get("CONSOLE_SECURE_COOKIES") or "0").strip().lower()
    if value not in ("0", "1"):
        raise SettingsError(f"CONSOLE_SECURE_COOKIES: expected 1 or 0, got {value!r}")
    return value == "1"


def console_session_times(env: Optional[Mapping[str, str]] = None) -> tuple:
    """``CONSOLE_IDLE_MINUTES`` (default 30) and ``CONSOLE_SESSION_HOURS`` (default 12): a console
    session ends after that long without a request, and that long after logging in whatever
    happens. Returns ``(idle, lifetime)`` as timedeltas.

    Raises:
        SettingsError: naming the variable when a value is not a number of at least 1.
    """
    env = os.environ if env is None else env
    idle = timedelta(minutes=_number(env, "CONSOLE_IDLE_MINUTES", 30, 1))
    lifetime = timedelta(hours=_number(env, "CONSOLE_SESSION_HOURS", 12, 1))
    return idle, lifetime


def console_data_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    """``CONSOLE_DATA_DIR``: the training data folder the staff console reads and changes (its
    ``faq/`` topic files, its ``nlu/`` intents); the project's ``data/`` unless told otherwise.
    Tests point it at a copy.

    Raises:
        SettingsError: the folder has no ``faq/`` folder of topic files.
    """
    env = os.environ if env is None else env
    folder = Path(env.get("CONSOLE_DATA_DIR") or PROJECT_ROOT / "data").resolve()
    if not (folder / "faq").is_dir():
        raise SettingsError(f"CONSOLE_DATA_DIR={folder} has no faq/ folder of topic files")
    return folder


def check_console_exposure(host: str, secure_cookies: bool) -> None:
    """Refuses a staff console reachable over a network in plain HTTP: staff passwords and
    session cookies would cross it in clear.

    Raises:
        SettingsError: naming both variables.
    """
    if host not in LOOPBACK_HOSTS and not secure_cookies:
        raise SettingsError(
            f"CONSOLE_HOST={host} makes the staff console reachable over the network in plain HTTP: "
            "keep it on 127.0.0.1 behind nginx with HTTPS (docs/deployment.md), or, when only HTTPS "
            "reaches it, set CONSOLE_SECURE_COOKIES=1"
        )


def console_model_path(env: Optional[Mapping[str, str]] = None) -> Path:
    """``CONSOLE_MODEL``: the model file the console's Publish replaces and serves to the Rasa
    servers; the one ``make train`` writes unless told otherwise. Tests point it at a copy."""
    env = os.environ if env is None else env
    return Path(env.get("CONSOLE_MODEL") or PROJECT_ROOT / "models" / "clinic-assistant.tar.gz").resolve()


def model_server_token(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """``MODEL_SERVER_TOKEN``: the secret the Rasa servers send (``Authorization: Bearer <token>``,
    set under ``models:`` in the endpoints file) to fetch the published model from the console.
    None when unset: the console then serves no model.

    Raises:
        SettingsError: when it is set but shorter than 16 characters.
    """
    env = os.environ if env is None else env
    token = env.get("MODEL_SERVER_TOKEN") or None
    if token is not None and len(token) < 16:
        raise SettingsError("MODEL_SERVER_TOKEN: use at least 16 random characters (e.g. `openssl rand -hex 24`)")
    return token
