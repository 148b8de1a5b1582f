"""One cache for every process (``CACHE_URL``), and pages that do without it when Redis fails.

Two gunicorn servers on one Redis count a user's API writes together, as the processes of one
gunicorn do. A throwaway Redis that is killed or hung leaves pages and writes answering.
"""

import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from django.urls import reverse
from rest_framework.test import APIClient

from bench.servers import Gunicorn, app_env, static_collect
from tests.dashboards.conftest import organisation  # noqa: F401 (a fixture)
from tests.dashboards.pages import read_dashboard
from tests.factories import MembershipFactory, TaskFactory, UserFactory
from tests.processes import RedisServer, database_url
from uplift.api.models import ApiToken
from uplift.settings import redis_cache

pytestmark = pytest.mark.servers

RATE = 4
THROTTLE_KEYS = "*throttle_api_writes_*"


def patch_title(base_url: str, task_id: int, secret: str, title: str) -> int:
    """The status of an API write (a task's new title) sent over HTTP to ``base_url``."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/tasks/{task_id}/",
        data=json.dumps({"title": title}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def cache_url(settings):
    """The test Redis database, without throttle counts before and after."""
    url = settings.CELERY_BROKER_URL
    client = redis.Redis.from_url(url)

    def forget() -> None:
        for key in client.scan_iter(THROTTLE_KEYS):
            client.delete(key)

    forget()
    yield url
    forget()
    client.close()


@pytest.mark.django_db(transaction=True)
def test_two_servers_on_one_cache_count_a_users_writes_together(cache_url, team, tmp_path):
    researcher = UserFactory(username="ada")
    MembershipFactory(user=researcher, team=team)
    task = TaskFactory(owner=researcher, team=team)
    _, secret = ApiToken.objects.create(user=researcher, expiry=None, name="notebook")
    env = app_env(
        database_url=database_url(),
        broker_url=cache_url,
        CACHE_URL=cache_url,
        API_WRITE_RATE=f"{RATE}/minute",
    )
    static_collect(env, only_if_missing=True)
    with (
        Gunicorn(env=env, workers=1, log_dir=tmp_path) as first,
        Gunicorn(env=env, workers=1, log_dir=tmp_path) as second,
    ):
        servers = [first, second]
        # RATE writes, half through each server: all pass.
        codes = [patch_title(servers[i % 2].url, task.pk, secret, f"t{i}") for i in range(RATE)]
        assert codes == [200] * RATE
        # The next is refused by either, though each has taken only half of them.
        assert patch_title(first.url, task.pk, secret, "one more") == 429
        assert patch_title(second.url, task.pk, secret, "one more") == 429
        assert "Traceback" not in first.output() + second.output()
    task.refresh_from_db()
    assert task.title == f"t{RATE - 1}"
    counts = redis.Redis.from_url(cache_url)
    assert len(list(counts.scan_iter(THROTTLE_KEYS))) == 1  # the one count, in Redis
    counts.close()


@pytest.fixture
def redis_cache_server(tmp_path: Path, settings):
    """This process's cache on a throwaway Redis, as with ``CACHE_URL``; writes: 2 a minute."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    settings.CACHES = {"default": redis_cache(server.url)}
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_writes": "2/minute"},
    }
    yield server
    server.kill()


@pytest.fixture
def writer(db, team):
    """A researcher's API client and the URL of their task."""
    researcher = UserFactory(username="bea")
    MembershipFactory(user=researcher, team=team)
    task = TaskFactory(owner=researcher, team=team)
    _, secret = ApiToken.objects.create(user=researcher, expiry=None, name="notebook")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client, f"/api/v1/tasks/{task.pk}/"


def timed(send, *args, **kwargs):
    started = time.monotonic()
    response = send(*args, **kwargs)
    return response, time.monotonic() - started


@pytest.mark.usefixtures("organisation")  # teams, tasks and a snapshot: a dashboard to show
def test_with_redis_killed_pages_and_writes_still_answer(
    redis_cache_server, writer, client, django_user_model, caplog
):
    api, url = writer
    codes = [api.patch(url, {"title": f"t{i}"}, format="json").status_code for i in range(3)]
    assert codes == [200, 200, 429]  # counted in Redis
    client.force_login(django_user_model.objects.get(username="lin"))
    dashboard = reverse("dashboards:team")
    before = read_dashboard(client.get(dashboard, secure=True).content.decode())
    assert before[0] and before[1]  # its tables and figures, now cached in Redis

    redis_cache_server.kill()

    with caplog.at_level(logging.WARNING, logger="uplift.cache"):
        page, page_seconds = timed(client.get, dashboard, secure=True)
        write, write_seconds = timed(api.patch, url, {"title": "during"}, format="json")
    assert page.status_code == 200
    assert read_dashboard(page.content.decode()) == before  # computed again, the same
    assert write.status_code == 200  # not throttled while the cache is down
    assert write_seconds < 1
    assert page_seconds < 10
    warnings = [r.getMessage() for r in caplog.records if r.name == "uplift.cache"]
    assert len(warnings) == 1, warnings  # then the cache is left alone for a while
    assert warnings[0].startswith("The cache (Redis) did not answer (Error 111 connecting to")


def test_a_hung_redis_holds_one_request_for_one_socket_timeout(redis_cache_server, writer):
    api, url = writer
    assert api.patch(url, {"title": "before"}, format="json").status_code == 200
    redis_cache_server.pause()
    try:
        first, first_seconds = timed(api.patch, url, {"title": "hung"}, format="json")
        second, second_seconds = timed(api.patch, url, {"title": "still"}, format="json")
    finally:
        redis_cache_server.resume()
    assert (first.status_code, second.status_code) == (200, 200)
    assert 1 <= first_seconds < 3  # one socket timeout of 1 s, then Redis is left alone
    assert second_seconds < 0.5
