"""Configuration: read from the environment, refused at start when unsafe."""

from __future__ import annotations

import json

import pytest

from diary import create_app
from diary.config import DEFAULT_CRISIS_CONTACTS, DEFAULT_CRISIS_MESSAGE, Config, ConfigError

STRONG_KEY = "k" * 32
PG_URL = "postgresql+psycopg://diary:pw@db.internal:5432/diary"
ENV_KEYS = (
    "APP_ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "MAX_CONTENT_LENGTH",
    "ACCESS_TOKEN_TTL_SECONDS",
    "REFRESH_TOKEN_TTL_DAYS",
    "ENROLLMENT_CODE_TTL_DAYS",
    "PASSWORD_MIN_LENGTH",
    "ARGON2_TIME_COST",
    "ARGON2_MEMORY_KIB",
    "ARGON2_PARALLELISM",
    "PUSH_BACKEND",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "FCM_ENDPOINT",
    "ALERT_WEBHOOK_URL",
    "ALERT_WEBHOOK_SECRET",
    "SCHEDULER_TICK_SECONDS",
    "RATELIMIT_STORAGE_URI",
    "AUTH_RATE_LIMIT",
    "TRUSTED_PROXY_HOPS",
    "CRISIS_MESSAGE",
    "CRISIS_CONTACTS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Whatever the shell exports, these tests start from an empty configuration."""
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


def production(**overrides) -> Config:
    return Config(**{"APP_ENV": "production", "SECRET_KEY": STRONG_KEY, "SQLALCHEMY_DATABASE_URI": PG_URL, **overrides})


def refused(config: Config, mentions: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.validate()
    assert mentions in str(caught.value)


# --- validate() ----------------------------------------------------------------------------


def test_defaults_are_valid():
    Config(SECRET_KEY=STRONG_KEY, SQLALCHEMY_DATABASE_URI="sqlite:///x.sqlite3").validate()


def test_production_with_a_strong_key_and_postgresql_is_valid():
    production().validate()


def test_production_without_secret_key_is_refused(tmp_path):
    config = production(SECRET_KEY="")
    config.apply_defaults(str(tmp_path))
    assert config.SECRET_KEY == ""  # production never invents a key
    refused(config, "SECRET_KEY")


@pytest.mark.parametrize("key", ["0123456789", "k" * 31])
def test_production_with_a_short_key_is_refused(key):
    refused(production(SECRET_KEY=key), "SECRET_KEY")


@pytest.mark.parametrize("url", ["sqlite:///instance/diary.sqlite3", "mysql://db/diary", ""])
def test_production_needs_postgresql(url):
    refused(production(SQLALCHEMY_DATABASE_URI=url), "DATABASE_URL")


def test_production_default_database_is_refused(tmp_path):
    config = production(SQLALCHEMY_DATABASE_URI="")
    config.apply_defaults(str(tmp_path))
    assert config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    refused(config, "DATABASE_URL")


def test_unknown_app_env_is_refused():
    refused(production(APP_ENV="staging"), "APP_ENV")


@pytest.mark.parametrize("limit", ["lots", "", "10 per fortnight", "per minute"])
def test_unreadable_auth_rate_limit_is_refused(limit):
    refused(production(AUTH_RATE_LIMIT=limit), "AUTH_RATE_LIMIT")


@pytest.mark.parametrize("uri", ["memcached://cache:11211", "redis-cluster", ""])
def test_unknown_rate_limit_storage_is_refused(uri):
    refused(production(RATELIMIT_STORAGE_URI=uri), "RATELIMIT_STORAGE_URI")


def test_several_auth_rate_limits_are_valid():
    production(AUTH_RATE_LIMIT="10 per minute; 100 per day", RATELIMIT_STORAGE_URI="redis://cache:6379/0").validate()


@pytest.mark.parametrize("backend", ["carrier-pigeon", "", "FCM"])
def test_unknown_push_backend_is_refused(backend):
    refused(production(PUSH_BACKEND=backend), "PUSH_BACKEND")


def test_fcm_without_credentials_is_refused():
    refused(production(PUSH_BACKEND="fcm"), "GOOGLE_APPLICATION_CREDENTIALS")


def test_fcm_with_credentials_is_valid():
    production(PUSH_BACKEND="fcm", GOOGLE_APPLICATION_CREDENTIALS="/etc/diary/sa.json").validate()


def test_webhook_url_without_secret_is_refused():
    refused(production(ALERT_WEBHOOK_URL="https://ops.example/hook"), "ALERT_WEBHOOK_SECRET")


def test_webhook_secret_without_url_is_refused():
    refused(production(ALERT_WEBHOOK_SECRET="hmac-key"), "ALERT_WEBHOOK_URL")


def test_webhook_with_url_and_secret_is_valid():
    production(ALERT_WEBHOOK_URL="https://ops.example/hook", ALERT_WEBHOOK_SECRET="hmac-key").validate()


@pytest.mark.parametrize(
    "contacts",
    [
        {"name": "Lifeline", "phone": "988"},
        [{"name": "Lifeline"}],
        [{"phone": "988"}],
        [{"name": "Lifeline", "phone": 988}],
        ["988"],
        "988",
    ],
)
def test_malformed_crisis_contacts_are_refused(contacts):
    refused(production(CRISIS_CONTACTS=contacts), "CRISIS_CONTACTS")


def test_crisis_contacts_list_is_valid():
    production(CRISIS_CONTACTS=[{"name": "Clinic on-call", "phone": "+49 30 1234"}]).validate()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_CONTENT_LENGTH", 0),
        ("ACCESS_TOKEN_TTL_SECONDS", 0),
        ("REFRESH_TOKEN_TTL_DAYS", -1),
        ("SCHEDULER_TICK_SECONDS", 0),
    ],
)
def test_non_positive_numbers_are_refused(key, value):
    with pytest.raises(ConfigError):
        production(**{key: value}).validate()


# --- the development secret ----------------------------------------------------------------


def test_development_without_secret_key_gets_a_random_one(tmp_path):
    first, second = Config(), Config()
    first.apply_defaults(str(tmp_path))
    second.apply_defaults(str(tmp_path))
    assert len(first.SECRET_KEY) >= 32
    assert first.SECRET_KEY != second.SECRET_KEY
    first.validate()


def test_two_development_apps_get_different_keys(tmp_path):
    overrides = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'dev.sqlite3'}"}
    one, two = create_app(overrides), create_app(overrides)
    assert one.config["APP_ENV"] == "development"
    assert len(one.config["SECRET_KEY"]) >= 32
    assert one.config["SECRET_KEY"] != two.config["SECRET_KEY"]


def test_production_app_without_secret_key_does_not_start():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"APP_ENV": "production", "SQLALCHEMY_DATABASE_URI": PG_URL})


def test_an_explicit_development_key_is_kept(tmp_path):
    config = Config(SECRET_KEY=STRONG_KEY)
    config.apply_defaults(str(tmp_path))
    assert config.SECRET_KEY == STRONG_KEY


# --- from_env() ----------------------------------------------------------------------------


def test_from_env_reads_the_environment(monkeypatch):
    contacts = [{"name": "Clinic on-call", "phone": "+49 30 1234"}]
    for key, value in {
        "APP_ENV": "production",
        "SECRET_KEY": STRONG_KEY,
        "DATABASE_URL": PG_URL,
        "MAX_CONTENT_LENGTH": "2048",
        "PUSH_BACKEND": "fcm",
        "GOOGLE_APPLICATION_CREDENTIALS": "/etc/diary/sa.json",
        "FCM_ENDPOINT": "http://127.0.0.1:9999",
        "ALERT_WEBHOOK_URL": "https://ops.example/hook",
        "ALERT_WEBHOOK_SECRET": "hmac-key",
        "SCHEDULER_TICK_SECONDS": "7",
        "RATELIMIT_STORAGE_URI": "redis://cache:6379/0",
        "AUTH_RATE_LIMIT": "5 per minute",
        "TRUSTED_PROXY_HOPS": "1",
        "CRISIS_MESSAGE": "Call us.",
        "CRISIS_CONTACTS": json.dumps(contacts),
    }.items():
        monkeypatch.setenv(key, value)
    config = Config.from_env()
    assert config.APP_ENV == "production"
    assert config.SECRET_KEY == STRONG_KEY
    assert config.SQLALCHEMY_DATABASE_URI == PG_URL
    assert config.MAX_CONTENT_LENGTH == 2048
    assert config.PUSH_BACKEND == "fcm"
    assert config.GOOGLE_APPLICATION_CREDENTIALS == "/etc/diary/sa.json"
    assert config.FCM_ENDPOINT == "http://127.0.0.1:9999"
    assert config.ALERT_WEBHOOK_URL == "https://ops.example/hook"
    assert config.ALERT_WEBHOOK_SECRET == "hmac-key"
    assert config.SCHEDULER_TICK_SECONDS == 7
    assert config.RATELIMIT_STORAGE_URI == "redis://cache:6379/0"
    assert config.AUTH_RATE_LIMIT == "5 per minute"
    assert config.TRUSTED_PROXY_HOPS == 1
    assert config.CRISIS_MESSAGE == "Call us."
    assert contacts == config.CRISIS_CONTACTS
    config.validate()


def test_from_env_with_nothing_set_gives_the_defaults():
    assert Config.from_env() == Config()


def test_from_env_treats_an_empty_variable_as_the_default(monkeypatch):
    for key in ENV_KEYS:
        monkeypatch.setenv(key, "")
    config = Config.from_env()
    assert config == Config()
    assert config.APP_ENV == "development"
    assert config.PUSH_BACKEND == "log"
    assert config.MAX_CONTENT_LENGTH == 1024 * 1024
    assert config.SCHEDULER_TICK_SECONDS == 5
    assert config.RATELIMIT_STORAGE_URI == "memory://"
    assert config.AUTH_RATE_LIMIT == "10 per minute"
    assert config.ALERT_WEBHOOK_URL is None
    assert config.GOOGLE_APPLICATION_CREDENTIALS is None
    assert config.CRISIS_MESSAGE == DEFAULT_CRISIS_MESSAGE
    assert config.CRISIS_CONTACTS == DEFAULT_CRISIS_CONTACTS
    config.validate()  # an empty webhook pair or push backend is "not configured", not an error


@pytest.mark.parametrize("key", ["MAX_CONTENT_LENGTH", "SCHEDULER_TICK_SECONDS", "TRUSTED_PROXY_HOPS"])
def test_from_env_refuses_a_non_integer(monkeypatch, key):
    monkeypatch.setenv(key, "lots")
    with pytest.raises(ConfigError, match=key):
        Config.from_env()


def test_from_env_refuses_crisis_contacts_that_are_not_json(monkeypatch):
    monkeypatch.setenv("CRISIS_CONTACTS", "[{name: 988}")
    with pytest.raises(ConfigError, match="CRISIS_CONTACTS"):
        Config.from_env()


def test_create_app_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "4096")
    monkeypatch.setenv("PUSH_BACKEND", "carrier-pigeon")
    with pytest.raises(ConfigError, match="PUSH_BACKEND"):
        create_app()
    monkeypatch.setenv("PUSH_BACKEND", "")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    assert app.config["PUSH_BACKEND"] == "log"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'env.sqlite3'}"
