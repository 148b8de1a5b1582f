"""Every response carries the security headers production needs."""

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_pages_send_csp_frame_denial_referrer_policy_and_hsts(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    client.force_login(UserFactory())
    response = client.get("/history/", secure=True)
    assert response.status_code == 200
    policy = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
