"""Configuration read from the environment, validated before the app starts."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

from diary.models.sessions import MEDICATIONS

DEFAULT_CRISIS_MESSAGE = (
    "If you are thinking about harming yourself, please reach out now. You are not alone and help is available."
)
DEFAULT_CRISIS_CONTACTS = [
    {"name": "988 Suicide & Crisis Lifeline (call or text)", "phone": "988"},
    {"name": "Emergency services", "phone": "911"},
]

# The shortest observation after a dose before discharge, per medication: esketamine's label
# (Spravato REMS) requires at least two hours; one hour is common practice after ketamine.
DEFAULT_MIN_OBSERVATION_MINUTES = {"ketamine": 60, "esketamine": 120}
# The canonical URL of the project's own FHIR code system (mood, anxiety, instruments
# without a LOINC code). A deployment that publishes its code system sets its own.
DEFAULT_FHIR_CODE_SYSTEM_URL = "https://ketamine-diary.example/fhir/CodeSystem/diary"

WEAK_SECRETS = {"", "changeme", "secret", "dev", "development", "please-change-me"}


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says which key."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_json(name: str, default: Any) -> Any:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} must be JSON: {exc}") from exc


def _positive_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass
class Config:
    """Every setting the app reads; `from_env()` fills it, `validate()` refuses bad combinations."""

    APP_ENV: str = "development"
    SECRET_KEY: str = ""
    SQLALCHEMY_DATABASE_URI: str = ""
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = field(default_factory=dict)
    MAX_CONTENT_LENGTH: int = 1024 * 1024
    ACCESS_TOKEN_TTL_SECONDS: int = 15 * 60
    REFRESH_TOKEN_TTL_DAYS: int = 30
    ENROLLMENT_CODE_TTL_DAYS: int = 14
    PASSWORD_MIN_LENGTH: int = 10
    # argon2id parameters; RFC 9106 "second recommended option" by default.
    ARGON2_TIME_COST: int = 3
    ARGON2_MEMORY_KIB: int = 65536
    ARGON2_PARALLELISM: int = 4
    PUSH_BACKEND: str = "log"
    GOOGLE_APPLICATION_CREDENTIALS: str | None = None
    FCM_ENDPOINT: str | None = None
    ALERT_WEBHOOK_URL: str | None = None
    ALERT_WEBHOOK_SECRET: str | None = None
    SCHEDULER_TICK_SECONDS: int = 5
    # Outbox dispatch: rows claimed per batch, how long a claim holds, retry schedule.
    DISPATCH_BATCH_SIZE: int = 200
    DISPATCH_LEASE_SECONDS: int = 60
    PUSH_MAX_ATTEMPTS: int = 8
    PUSH_RETRY_BASE_SECONDS: int = 30
    PUSH_RETRY_MAX_SECONDS: int = 3600
    FCM_BATCH_SIZE: int = 100
    # /readyz fails when no worker has ticked for this long.
    WORKER_STALE_SECONDS: int = 120
    # Run the worker's jobs inside the web process (the dev server of `make run` only).
    EMBEDDED_WORKER: bool = False
    RATELIMIT_STORAGE_URI: str = "memory://"
    # Part of every rate-limit key, so apps sharing one Redis (or tests) never share counters.
    RATE_LIMIT_NAMESPACE: str = "diary"
    AUTH_RATE_LIMIT: str = "10 per minute"
    TRUSTED_PROXY_HOPS: int = 0
    ENTRY_FUTURE_TOLERANCE_SECONDS: int = 300
    # The largest dose a session may record, in mg: above any ketamine protocol, so a typo
    # (9500 for 95.00) is refused instead of stored.
    MAX_DOSE_MG: float = 1000.0
    # Session monitoring: any reading at or above either pressure flags the session (mmHg),
    # and so does a discharge sooner than the medication's minimum observation.
    BP_ALERT_SYSTOLIC: int = 180
    BP_ALERT_DIASTOLIC: int = 110
    MIN_OBSERVATION_MINUTES: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIN_OBSERVATION_MINUTES))
    CRISIS_MESSAGE: str = DEFAULT_CRISIS_MESSAGE
    CRISIS_CONTACTS: list[dict[str, str]] = field(default_factory=lambda: [dict(c) for c in DEFAULT_CRISIS_CONTACTS])
    # Alert rules (API.md "Alert rules"); thresholds are configuration.
    ALERT_MOOD_DROP: float = 2.0
    ALERT_ANXIETY_RISE: float = 2.0
    ALERT_TREND_RECENT_DAYS: int = 3
    ALERT_TREND_BASELINE_DAYS: int = 14
    ALERT_TREND_MIN_BASELINE_ENTRIES: int = 5
    ALERT_PHQ9_RISE: int = 5
    ALERT_PHQ9_SEVERE: int = 20
    ALERT_DISENGAGED_DAYS: int = 4
    ALERT_EXPIRED_CHECKINS_IN_A_ROW: int = 2
    # A critical alert not acknowledged is delivered again this often.
    ALERT_ESCALATION_MINUTES: int = 15
    # PHQ-9 remission cut-off (remission = latest total below it).
    REMISSION_PHQ9_CUTOFF: int = 5
    # MADRS remission cut-off (remission = latest total at or below it).
    MADRS_REMISSION_CUTOFF: int = 10
    # effect_waning fires this many days before the forecast wear-off date.
    WANING_LEAD_DAYS: int = 2
    # Clinic outcomes: an induction is completed with this many sessions within this many
    # local days from the first.
    INDUCTION_SESSIONS: int = 6
    INDUCTION_DAYS: int = 28
    # Logs: json (one object per line) or text; LOG_LEVEL as in logging.
    LOG_FORMAT: str = "json"
    LOG_LEVEL: str = "INFO"
    # Origins allowed to call the API from a browser (the dashboard); empty = CORS closed.
    CORS_ORIGINS: list[str] = field(default_factory=list)
    # The review pages sign a clinician out after this many minutes without a request.
    REVIEW_IDLE_MINUTES: int = 15
    # FHIR export: canonical URL of the project's code system; codes under it never change meaning.
    FHIR_CODE_SYSTEM_URL: str = DEFAULT_FHIR_CODE_SYSTEM_URL
    TESTING: bool = False

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(
            APP_ENV=env.get("APP_ENV") or "development",
            SECRET_KEY=env.get("SECRET_KEY", ""),
            SQLALCHEMY_DATABASE_URI=env.get("DATABASE_URL", ""),
            MAX_CONTENT_LENGTH=_env_int("MAX_CONTENT_LENGTH", 1024 * 1024),
            ACCESS_TOKEN_TTL_SECONDS=_env_int("ACCESS_TOKEN_TTL_SECONDS", 15 * 60),
            REFRESH_TOKEN_TTL_DAYS=_env_int("REFRESH_TOKEN_TTL_DAYS", 30),
            ENROLLMENT_CODE_TTL_DAYS=_env_int("ENROLLMENT_CODE_TTL_DAYS", 14),
            PASSWORD_MIN_LENGTH=_env_int("PASSWORD_MIN_LENGTH", 10),
            ARGON2_TIME_COST=_env_int("ARGON2_TIME_COST", 3),
            ARGON2_MEMORY_KIB=_env_int("ARGON2_MEMORY_KIB", 65536),
            ARGON2_PARALLELISM=_env_int("ARGON2_PARALLELISM", 4),
            PUSH_BACKEND=env.get("PUSH_BACKEND") or "log",
            GOOGLE_APPLICATION_CREDENTIALS=env.get("GOOGLE_APPLICATION_CREDENTIALS") or None,
            FCM_ENDPOINT=env.get("FCM_ENDPOINT") or None,
            ALERT_WEBHOOK_URL=env.get("ALERT_WEBHOOK_URL") or None,
            ALERT_WEBHOOK_SECRET=env.get("ALERT_WEBHOOK_SECRET") or None,
            SCHEDULER_TICK_SECONDS=_env_int("SCHEDULER_TICK_SECONDS", 5),
            DISPATCH_BATCH_SIZE=_env_int("DISPATCH_BATCH_SIZE", 200),
            DISPATCH_LEASE_SECONDS=_env_int("DISPATCH_LEASE_SECONDS", 60),
            PUSH_MAX_ATTEMPTS=_env_int("PUSH_MAX_ATTEMPTS", 8),
            PUSH_RETRY_BASE_SECONDS=_env_int("PUSH_RETRY_BASE_SECONDS", 30),
            PUSH_RETRY_MAX_SECONDS=_env_int("PUSH_RETRY_MAX_SECONDS", 3600),
            FCM_BATCH_SIZE=_env_int("FCM_BATCH_SIZE", 100),
            WORKER_STALE_SECONDS=_env_int("WORKER_STALE_SECONDS", 120),
            EMBEDDED_WORKER=_env_bool("EMBEDDED_WORKER", False),
            ALERT_MOOD_DROP=_env_float("ALERT_MOOD_DROP", 2.0),
            ALERT_ANXIETY_RISE=_env_float("ALERT_ANXIETY_RISE", 2.0),
            ALERT_TREND_RECENT_DAYS=_env_int("ALERT_TREND_RECENT_DAYS", 3),
            ALERT_TREND_BASELINE_DAYS=_env_int("ALERT_TREND_BASELINE_DAYS", 14),
            ALERT_TREND_MIN_BASELINE_ENTRIES=_env_int("ALERT_TREND_MIN_BASELINE_ENTRIES", 5),
            ALERT_PHQ9_RISE=_env_int("ALERT_PHQ9_RISE", 5),
            ALERT_PHQ9_SEVERE=_env_int("ALERT_PHQ9_SEVERE", 20),
            ALERT_DISENGAGED_DAYS=_env_int("ALERT_DISENGAGED_DAYS", 4),
            ALERT_EXPIRED_CHECKINS_IN_A_ROW=_env_int("ALERT_EXPIRED_CHECKINS_IN_A_ROW", 2),
            ALERT_ESCALATION_MINUTES=_env_int("ALERT_ESCALATION_MINUTES", 15),
            REMISSION_PHQ9_CUTOFF=_env_int("REMISSION_PHQ9_CUTOFF", 5),
            MADRS_REMISSION_CUTOFF=_env_int("MADRS_REMISSION_CUTOFF", 10),
            WANING_LEAD_DAYS=_env_int("WANING_LEAD_DAYS", 2),
            INDUCTION_SESSIONS=_env_int("INDUCTION_SESSIONS", 6),
            INDUCTION_DAYS=_env_int("INDUCTION_DAYS", 28),
            LOG_FORMAT=env.get("LOG_FORMAT") or "json",
            LOG_LEVEL=env.get("LOG_LEVEL") or "INFO",
            CORS_ORIGINS=[o.strip() for o in (env.get("CORS_ORIGINS") or "").split(",") if o.strip()],
            RATELIMIT_STORAGE_URI=env.get("RATELIMIT_STORAGE_URI") or "memory://",
            AUTH_RATE_LIMIT=env.get("AUTH_RATE_LIMIT") or "10 per minute",
            TRUSTED_PROXY_HOPS=_env_int("TRUSTED_PROXY_HOPS", 0),
            MAX_DOSE_MG=_env_float("MAX_DOSE_MG", 1000.0),
            BP_ALERT_SYSTOLIC=_env_int("BP_ALERT_SYSTOLIC", 180),
            BP_ALERT_DIASTOLIC=_env_int("BP_ALERT_DIASTOLIC", 110),
            MIN_OBSERVATION_MINUTES=_env_json("MIN_OBSERVATION_MINUTES", dict(DEFAULT_MIN_OBSERVATION_MINUTES)),
            CRISIS_MESSAGE=env.get("CRISIS_MESSAGE") or DEFAULT_CRISIS_MESSAGE,
            CRISIS_CONTACTS=_env_json("CRISIS_CONTACTS", [dict(c) for c in DEFAULT_CRISIS_CONTACTS]),
            REVIEW_IDLE_MINUTES=_env_int("REVIEW_IDLE_MINUTES", 15),
            FHIR_CODE_SYSTEM_URL=env.get("FHIR_CODE_SYSTEM_URL") or DEFAULT_FHIR_CODE_SYSTEM_URL,
        )

    def apply_defaults(self, instance_path: str) -> None:
        """Fill the embedded defaults that depend on where the app lives."""
        if not self.SQLALCHEMY_DATABASE_URI:
            self.SQLALCHEMY_DATABASE_URI = f"sqlite:///{os.path.join(instance_path, 'diary.sqlite3')}"
        if not self.SECRET_KEY and self.APP_ENV != "production":
            # Development only: tokens die with the process, which is what a dev server wants.
            self.SECRET_KEY = secrets.token_urlsafe(48)
        # Error messages must never echo bound parameters: they hold notes, emails, scores.
        self.SQLALCHEMY_ENGINE_OPTIONS = {"hide_parameters": True, **self.SQLALCHEMY_ENGINE_OPTIONS}
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            # A database that does not answer must fail fast (503), not hold a request for minutes.
            # No pool_pre_ping: it costs a round trip on every checkout; connections that sat
            # idle are pinged instead (diary/database.py).
            self.SQLALCHEMY_ENGINE_OPTIONS = {
                "connect_args": {"connect_timeout": 5},
                **self.SQLALCHEMY_ENGINE_OPTIONS,
            }

    def validate(self) -> None:
        """Refuse configurations that would run unsafely; fail at start, loudly."""
        if self.APP_ENV not in {"development", "production", "testing"}:
            raise ConfigError("APP_ENV must be development, production or testing")
        if self.APP_ENV == "production":
            if len(self.SECRET_KEY) < 32 or self.SECRET_KEY.lower() in WEAK_SECRETS:
                raise ConfigError("SECRET_KEY is required in production and must be at least 32 characters")
            if not self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
                raise ConfigError("DATABASE_URL must be a PostgreSQL URL in production")
        if self.LOG_FORMAT not in {"json", "text", "none"}:
            raise ConfigError("LOG_FORMAT must be json, text or none")
        if "*" in self.CORS_ORIGINS:
            raise ConfigError("CORS_ORIGINS must list origins; '*' would let any site call the API")
        if self.PUSH_BACKEND not in {"log", "fcm"}:
            raise ConfigError("PUSH_BACKEND must be 'log' or 'fcm'")
        if self.PUSH_BACKEND == "fcm" and not self.GOOGLE_APPLICATION_CREDENTIALS:
            raise ConfigError("PUSH_BACKEND=fcm needs GOOGLE_APPLICATION_CREDENTIALS")
        if bool(self.ALERT_WEBHOOK_URL) != bool(self.ALERT_WEBHOOK_SECRET):
            raise ConfigError("ALERT_WEBHOOK_URL and ALERT_WEBHOOK_SECRET go together")
        try:
            parse_many(self.AUTH_RATE_LIMIT)
        except ValueError:
            raise ConfigError('AUTH_RATE_LIMIT must be a rate such as "10 per minute"') from None
        if not self.RATELIMIT_STORAGE_URI.startswith(("memory://", "redis://", "rediss://")):
            raise ConfigError("RATELIMIT_STORAGE_URI must be memory:// or a redis:// URL")
        if self.MAX_CONTENT_LENGTH <= 0:
            raise ConfigError("MAX_CONTENT_LENGTH must be positive")
        if self.ACCESS_TOKEN_TTL_SECONDS <= 0 or self.REFRESH_TOKEN_TTL_DAYS <= 0:
            raise ConfigError("token lifetimes must be positive")
        for key in (
            "SCHEDULER_TICK_SECONDS",
            "DISPATCH_BATCH_SIZE",
            "DISPATCH_LEASE_SECONDS",
            "PUSH_MAX_ATTEMPTS",
            "PUSH_RETRY_BASE_SECONDS",
            "PUSH_RETRY_MAX_SECONDS",
            "FCM_BATCH_SIZE",
            "WORKER_STALE_SECONDS",
            "ALERT_MOOD_DROP",
            "ALERT_ANXIETY_RISE",
            "ALERT_TREND_RECENT_DAYS",
            "ALERT_TREND_BASELINE_DAYS",
            "ALERT_TREND_MIN_BASELINE_ENTRIES",
            "ALERT_PHQ9_RISE",
            "ALERT_PHQ9_SEVERE",
            "ALERT_DISENGAGED_DAYS",
            "ALERT_EXPIRED_CHECKINS_IN_A_ROW",
            "ALERT_ESCALATION_MINUTES",
            "REMISSION_PHQ9_CUTOFF",
            "MADRS_REMISSION_CUTOFF",
            "INDUCTION_SESSIONS",
            "INDUCTION_DAYS",
            "MAX_DOSE_MG",
            "REVIEW_IDLE_MINUTES",
        ):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be positive")
        if self.WANING_LEAD_DAYS < 0:
            raise ConfigError("WANING_LEAD_DAYS must not be negative")
        contacts = self.CRISIS_CONTACTS
        if not isinstance(contacts, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("phone"), str) for c in contacts
        ):
            raise ConfigError('CRISIS_CONTACTS must be a JSON list of {"name": ..., "phone": ...}')
        if not _is_canonical_https_url(self.FHIR_CODE_SYSTEM_URL):
            raise ConfigError("FHIR_CODE_SYSTEM_URL must be an absolute https:// URL without query or fragment")
        self._validate_monitoring()

    def _validate_monitoring(self) -> None:
        for key in ("BP_ALERT_SYSTOLIC", "BP_ALERT_DIASTOLIC"):
            if not _positive_whole(getattr(self, key)):
                raise ConfigError(f"{key} must be a positive whole number (mmHg)")
        minimums = self.MIN_OBSERVATION_MINUTES
        example = json.dumps(DEFAULT_MIN_OBSERVATION_MINUTES)
        if not isinstance(minimums, dict):
            raise ConfigError(f"MIN_OBSERVATION_MINUTES must be a JSON object such as {example}")
        for medication in MEDICATIONS:
            if not _positive_whole(minimums.get(medication)):
                raise ConfigError(f"MIN_OBSERVATION_MINUTES must give {medication} a positive whole number of minutes")
        unknown = sorted(set(minimums) - set(MEDICATIONS))
        if unknown:
            raise ConfigError(f"MIN_OBSERVATION_MINUTES names unknown medications: {', '.join(map(str, unknown))}")

    def as_flask_config(self) -> dict[str, Any]:
        return dict(vars(self))


def _is_canonical_https_url(value: str) -> bool:
    """A FHIR canonical URL: absolute https with a host, no query, fragment, credentials or spaces."""
    if not isinstance(value, str) or value != value.strip() or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
        and "?" not in value
        and "#" not in value
    )
