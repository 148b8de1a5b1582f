"""What can be checked of the production compose file without a Docker engine."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS_SOURCE = (ROOT / "uplift" / "settings.py").read_text()
SERVICES = COMPOSE["services"]


def command_of(service: str) -> str:
    command = SERVICES[service]["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_compose_defines_the_five_services():
    assert set(SERVICES) == {"postgres", "redis", "web", "worker", "beat"}


def test_app_services_share_one_image_built_from_the_dockerfile():
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["build"] == "."
        assert SERVICES[name]["image"] == "uplift:latest"
    assert (ROOT / "Dockerfile").is_file()


def test_web_migrates_collects_static_and_serves_with_gunicorn():
    command = command_of("web")
    assert command.index("migrate") < command.index("collectstatic") < command.index("gunicorn")
    assert "uplift.wsgi:application" in command
    assert (ROOT / "uplift" / "wsgi.py").is_file()


def test_worker_and_beat_run_celery_on_the_project_app():
    assert command_of("worker").startswith("celery -A uplift worker")
    assert command_of("beat").startswith("celery -A uplift beat")


def test_postgres_keeps_its_data_in_a_volume_and_has_a_healthcheck():
    postgres = SERVICES["postgres"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert SERVICES["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_app_setting_in_compose_is_read_by_the_settings_module():
    for name in ("web", "worker", "beat"):
        for key in SERVICES[name]["environment"]:
            assert re.search(rf'env(?:_bool|_list)?\("{key}"', SETTINGS_SOURCE), key


def test_secrets_come_from_the_environment_not_the_file():
    environment = SERVICES["web"]["environment"]
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
    assert environment["DEBUG"] == "0"


def test_every_runtime_requirement_is_pinned():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", line.strip()), line


def test_every_app_service_shares_one_redis_cache_apart_from_the_broker():
    # Without it each gunicorn process would count API writes and keep dashboards on its own.
    for name in ("web", "worker", "beat"):
        environment = SERVICES[name]["environment"]
        assert environment["CACHE_URL"] == "redis://redis:6379/1", name
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0", name


def test_the_web_process_count_has_one_default_and_is_set_by_web_concurrency():
    dockerfile = (ROOT / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    image_default = re.search(r"WEB_CONCURRENCY=(\d+)", dockerfile).group(1)
    compose_default = re.search(r"--workers \$\{WEB_CONCURRENCY:-(\d+)\}", command_of("web"))
    documented = re.search(r"^\| `WEB_CONCURRENCY` \| (\d+) \|", readme, re.M).group(1)
    assert image_default == compose_default.group(1) == documented
    assert "--workers" not in dockerfile  # the image's command leaves the count to the variable
    # gunicorn reads the variable when it starts and no --workers is given.
    read = "from gunicorn.config import Config; print(Config().workers)"
    env = {**os.environ, "WEB_CONCURRENCY": "5"}
    out = subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "5"
