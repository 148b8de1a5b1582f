"""Error pages are the product's own: no traceback, setting, secret or token, in page or log."""

import logging

import pytest
from django.conf import settings
from django.test import Client
from django.urls import path

from tests.deploy.giveaways import leaked
from tests.factories import UserFactory
from uplift import urls as site_urls
from uplift.urls import urlpatterns as site_urlpatterns

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

TOKEN = "d3adb33f" * 8
PASSWORD = "posted-password-never-shown"


def failing_view(request):
    raise RuntimeError("the view failed")


urlpatterns = [*site_urlpatterns, path("failing/", failing_view)]
handler500 = site_urls.handler500


def test_an_unknown_address_is_the_plain_not_found_page(client):
    response = client.get("/no-such-page/", secure=True)
    assert response.status_code == 404
    body = response.content.decode()
    assert "<h1>Page not found</h1>" in body
    assert leaked(body) == []


def test_a_server_error_shows_a_plain_page_and_logs_no_secret(caplog):
    caplog.set_level(logging.DEBUG)
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="ada"))
    session_key = client.session.session_key
    response = client.post(
        "/failing/",
        {"password": PASSWORD, "note": "x"},
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert leaked(body, PASSWORD, TOKEN, session_key, "the view failed") == []

    # The error is logged, with its traceback, for the operator; the request's secrets are not.
    assert "Internal Server Error: /failing/" in caplog.text
    assert "RuntimeError: the view failed" in caplog.text
    secrets = (PASSWORD, TOKEN, session_key, settings.SECRET_KEY)
    assert [secret for secret in secrets if secret in caplog.text] == []


def test_a_bad_api_token_is_refused_without_echoing_it(client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.get("/api/v1/tasks/", secure=True, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert TOKEN not in caplog.text


def test_a_form_posted_without_its_csrf_token_gets_the_expired_form_page():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="ada"))
    response = client.post("/accounts/password/", {"old_password": "x"}, secure=True)
    assert response.status_code == 403
    body = response.content.decode()
    assert "This form has expired" in body
    assert leaked(body, "CSRF cookie not set", "Referer") == []
