import pytest

from uplift.celery_app import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_when_database_and_broker_answer(client, settings):
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "broker": True}}


def test_healthz_is_503_when_the_broker_does_not_answer(client, monkeypatch):
    # Nothing listens on port 1: the broker is down.
    monkeypatch.setitem(celery_app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}


def test_healthz_answers_probes_by_ip_over_plain_http(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200


def test_pages_require_login(client):
    response = client.get("/", secure=True)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
