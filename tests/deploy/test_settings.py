"""Production settings: strict, complete, and read from the environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-0123456789abcdef",
    "ALLOWED_HOSTS": "uplift.example.org",
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1/uplift"),
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # Only the production variables: nothing of the test run's own settings.
    dropped = {*PRODUCTION_ENV, "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE", "STATIC_ROOT"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **PRODUCTION_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_required_when_debug_is_off():
    result = manage("check", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATABASE_URL", "postgres://u:p@db.internal:6543/lab", "db.internal 6543 lab"),
        ("CELERY_BROKER_URL", "redis://broker.internal:6380/2", "redis://broker.internal:6380/2"),
        ("ALLOWED_HOSTS", "a.example.org, b.example.org", "['a.example.org', 'b.example.org']"),
    ],
)
def test_settings_come_from_the_environment(name, value, expected):
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        "print({'DATABASE_URL': f\"{d['HOST']} {d['PORT']} {d['NAME']}\","
        "'CELERY_BROKER_URL': s.CELERY_BROKER_URL, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS}"
        f"[{name!r}])"
    )
    result = manage("shell", "--no-imports", "-c", code, **{name: value})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_defaults_are_sqlite_and_the_serverless_broker(tmp_path):
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        "print(d['ENGINE'], d['OPTIONS']['transaction_mode'], s.CELERY_BROKER_URL)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env={**env, "DEBUG": "1", "UPLIFT_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "IMMEDIATE",
        "filesystem://localhost/",
    ]


def test_a_trusted_proxy_that_is_not_an_address_refuses_to_start():
    # A typo must not silently leave every client with the proxy's address.
    result = manage("check", TRUSTED_PROXIES="10.0.0.2, proxy.internal")
    assert result.returncode != 0
    assert "TRUSTED_PROXIES: 'proxy.internal' does not appear to be an IPv4" in result.stderr


def test_cache_url_selects_the_shared_redis_cache_and_local_mode_a_cache_per_process():
    code = (
        "from django.conf import settings as s; c = s.CACHES['default'];"
        "print(c['BACKEND'], c.get('LOCATION'), c.get('OPTIONS'))"
    )
    shared = manage("shell", "--no-imports", "-c", code, CACHE_URL="redis://cache.internal:6379/1")
    assert shared.returncode == 0, shared.stderr
    assert shared.stdout.strip() == (
        "uplift.cache.FailOpenRedisCache redis://cache.internal:6379/1 "
        "{'socket_connect_timeout': 1, 'socket_timeout': 1}"
    )
    local = manage("shell", "--no-imports", "-c", code)
    assert local.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache None None"
