"""PostgreSQL going away: a plain 503, never a server error, and back by itself afterwards.

In the test process, the test database is made unreachable (its connections sent to a port
nothing listens on). Then the real thing: a throwaway PostgreSQL serving gunicorn is stopped
and started again while simulated researchers work, and no acknowledged write is lost.
"""

import logging
import time

import pytest
import redis
from django.conf import settings
from django.db import OperationalError, connection
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from bench.load import Load, report, researchers_create, writes_verify
from bench.servers import Gunicorn, PostgresCluster, app_env, free_port, static_collect
from tests.deploy.giveaways import leaked
from tests.factories import MembershipFactory
from uplift import urls as site_urls
from uplift.urls import urlpatterns as site_urlpatterns

USERS = 4
BEFORE, OUTAGE, AFTER = 4.0, 3.0, 6.0
UNAVAILABLE = "temporarily unavailable"


def dsn_in_error(request):
    raise OperationalError(
        "connection to postgres://uplift:url-s3cret@db.internal:5432/uplift failed "
        "(host=db.internal password=param-s3cret)"
    )


def remember_the_visit(request):
    """A view that reads nothing; the session middleware writes after it."""
    request.session["visited"] = True
    return HttpResponse("visited")


urlpatterns = [
    *site_urlpatterns,
    path("dsn-in-error/", dsn_in_error),
    path("remember/", remember_the_visit),
]
handler500 = site_urls.handler500


@pytest.fixture
def database_down(transactional_db):
    """Call it to make the test database unreachable; it is reachable again afterwards."""
    settings_dict = connection.settings_dict
    port = settings_dict["PORT"]

    def cut() -> None:
        connection.close()
        settings_dict["PORT"] = str(free_port())

    yield cut
    connection.close()
    settings_dict["PORT"] = port


@pytest.fixture
def signed_in(client, database_down):
    client.force_login(MembershipFactory().user)
    return client


def test_a_signed_in_page_is_a_plain_503_while_the_database_is_down(
    signed_in, database_down, caplog
):
    database_down()
    # The session and the user are read from the database before the page is: that fails.
    response = signed_in.get("/", secure=True)

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "<h1>Uplift is temporarily unavailable</h1>" in body
    assert leaked(body) == []
    assert [(r.levelname, r.name) for r in caplog.records] == [("WARNING", "uplift.outage")]
    assert "answered 503 to GET /" in caplog.text


def test_a_form_posted_while_the_database_is_down_is_a_plain_503(signed_in, database_down):
    database_down()
    plan = {"title": "x", "forecast_no_ai_minutes": "30", "forecast_ai_minutes": "20"}
    response = signed_in.post("/", plan, secure=True)
    assert response.status_code == 503
    assert UNAVAILABLE in response.content.decode()


def test_the_api_and_json_clients_get_a_json_503(signed_in, database_down):
    database_down()
    api = signed_in.get("/api/v1/tasks/", secure=True)
    page_as_json = signed_in.get("/history/", secure=True, headers={"Accept": "application/json"})

    for response in (api, page_as_json):
        assert response.status_code == 503
        assert response["Retry-After"] == "10"
        assert response.json() == {
            "detail": "The service is temporarily unavailable. Try again in a minute."
        }


@pytest.mark.urls(__name__)
def test_an_outage_after_the_view_while_saving_the_session_is_the_503_too(database_down, caplog):
    database_down()
    response = Client(raise_request_exception=False).get("/remember/", secure=True)

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    body = response.content.decode()
    assert "<h1>Uplift is temporarily unavailable</h1>" in body
    assert leaked(body) == []
    assert [(r.levelname, r.name) for r in caplog.records] == [("WARNING", "uplift.outage")]
    assert "answered 503 to GET /remember/" in caplog.text


@pytest.mark.urls(__name__)
def test_the_outage_is_logged_as_a_warning_without_the_database_password(client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.get("/dsn-in-error/", secure=True)

    assert response.status_code == 503
    assert [(r.levelname, r.name) for r in caplog.records] == [("WARNING", "uplift.outage")]
    logged = caplog.records[0].getMessage()
    assert "GET /dsn-in-error/" in logged
    assert "postgres://uplift:***@db.internal:5432/uplift" in logged
    assert "password=***" in logged
    assert "s3cret" not in caplog.text


@pytest.fixture
def broker_url():
    """The test Redis database, emptied afterwards of the refreshes the completions queue."""
    yield settings.CELERY_BROKER_URL
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    client.close()


@pytest.mark.servers
def test_postgres_restarted_under_load_answers_503_then_recovers_and_loses_no_write(
    tmp_path, broker_url
):
    with PostgresCluster() as postgres:
        database_url = postgres.database_create("uplift_bench_restart")
        env = app_env(database_url=database_url, broker_url=broker_url)
        usernames = researchers_create(env=env, count=USERS)
        static_collect(env, only_if_missing=True)
        with Gunicorn(env=env, workers=2, log_dir=tmp_path) as web:
            workers = web.worker_pids()
            load = Load(base_url=web.url, usernames=usernames, seconds=BEFORE + OUTAGE + AFTER)
            load.start()
            time.sleep(BEFORE)
            stopped_at = time.monotonic()
            postgres.stop("fast")
            time.sleep(OUTAGE)
            postgres.start()
            up_at = time.monotonic()
            result = load.join()
            assert web.worker_pids() == workers  # the same processes: no restart
            assert web.health() == 200
            web_log = web.output()
        verification = writes_verify(database_url, result)
    print(report(result, verification))  # shown when the test fails, or with -s
    print(f"stopped at +{stopped_at - result.window_started:.1f} s, "
          f"up at +{up_at - result.window_started:.1f} s")  # fmt: skip

    assert result.signed_in == USERS
    timed = [s for s in result.samples if s.method != "CHECK"]
    before = [s for s in timed if s.started + s.seconds < stopped_at]
    after = [s for s in timed if s.started >= up_at]
    assert len(before) >= 10 and all(s.ok for s in before)

    # Failures: only requests in flight during the outage, each a plain 503 page.
    failures = result.failures
    assert len(failures) >= 5
    for failure in failures:
        assert failure.status == 503, (failure.kind, failure.path, failure.problem)
        assert stopped_at <= failure.started + failure.seconds and failure.started < up_at
        assert failure.retry_after == "10"
        assert UNAVAILABLE in failure.body
        assert leaked(failure.body) == []

    # The same gunicorn serves again within seconds of the database being back.
    assert len(after) >= 10 and all(s.ok for s in after)
    first_page_back = min(s.started + s.seconds for s in after if s.method == "GET")
    assert first_page_back - up_at < 5.0

    # Every write acknowledged before or after the outage is there, as acknowledged.
    assert (verification.missing, verification.different, verification.unexplained) == (
        [],
        [],
        [],
    )
    planned = [t for t in result.tasks if t.planned]
    assert verification.tasks_found == verification.tasks_checked >= len(planned)
    closed = {"completed", "abandoned"}
    assert any(t.planned_at < stopped_at and t.expected["status"] in closed for t in planned)
    assert any(t.planned_at >= up_at and t.expected["status"] in closed for t in planned)

    assert "Database unavailable: answered 503" in web_log
    assert "Traceback" not in web_log and "Internal Server Error" not in web_log
