"""Personal API tokens: created and revoked on the user's own page, stored hashed, expiring."""

import html
import re
from datetime import timedelta

from django.utils import timezone

from uplift.api.models import ApiToken


def _create(client, name="notebook", expires="90") -> str:
    response = client.post("/api/v1/tokens/", {"name": name, "expires": expires})
    assert response.status_code == 200
    match = re.search(rb'data-testid="token-secret">([^<]+)<', response.content)
    assert match, "the new token is shown once"
    return match.group(1).decode()


def test_user_creates_a_named_token_and_uses_it_as_bearer(client, world):
    client.force_login(world.users["researcher"])
    secret = _create(client)
    token = ApiToken.objects.get(user=world.users["researcher"], name="notebook")
    # Only a hash is stored.
    assert secret not in (token.digest, token.token_key) and len(token.digest) == 128
    assert abs(token.expiry - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    client.logout()  # the token alone, not the session, signs the request in
    response = client.get("/api/v1/tasks/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert [task["id"] for task in response.json()["results"]] == [world.own_task.pk]


def test_token_page_shows_the_last_use(world):
    client = world.client("researcher")
    assert ApiToken.objects.get(user=world.users["researcher"]).last_used_at is None
    client.get("/api/v1/teams/")
    used = ApiToken.objects.get(user=world.users["researcher"]).last_used_at
    assert timezone.now() - used < timedelta(minutes=1)


def test_token_page_lists_only_own_tokens(client, world):
    client.force_login(world.users["lead"])
    _create(client, name="lead's script")
    page = client.get("/api/v1/tokens/").content.decode()
    assert "lead&#x27;s script" in page
    assert page.count("Revoke</button>") == 2  # the fixture's token and the new one
    assert "API tokens</a>" in page


def test_revoked_token_stops_working(client, world):
    token = ApiToken.objects.get(user=world.users["researcher"])
    client.force_login(world.users["researcher"])
    response = client.post(f"/api/v1/tokens/{token.token_key}/revoke/")
    assert response.status_code == 302
    assert world.client("researcher").get("/api/v1/tasks/").status_code == 401


def test_nobody_revokes_someone_elses_token(client, world):
    token = ApiToken.objects.get(user=world.users["researcher"])
    client.force_login(world.users["lead"])
    assert client.post(f"/api/v1/tokens/{token.token_key}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_expired_token_is_refused(world):
    response = world.client("expired_token").get("/api/v1/tasks/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert response["WWW-Authenticate"] == "Bearer"


def test_token_page_marks_expired_tokens(client, world):
    client.force_login(world.users["expired_token"])
    page = client.get("/api/v1/tokens/").content.decode()
    assert "<strong>expired</strong>" in page


def test_token_page_needs_sign_in(client, db):
    response = client.get("/api/v1/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_admin_lists_api_tokens(client, world):
    client.force_login(world.users["admin"])
    world.users["admin"].is_superuser = True
    world.users["admin"].save()
    assert client.get("/admin/").status_code == 200
    response = client.get("/admin/api/apitoken/")
    assert response.status_code == 200
    assert b"tests" in response.content
    for token in ApiToken.objects.all():
        assert token.token_key in response.content.decode()


def test_new_token_page_shows_curl_and_pandas_lines_with_the_token(client, world):
    client.force_login(world.users["analyst"])
    response = client.post("/api/v1/tokens/", {"name": "notebook", "expires": "90"})
    page = response.content.decode()
    secret = re.search(r'data-testid="token-secret">([^<]+)<', page).group(1)
    export = "http://testserver/api/v1/tasks/export/?format=csv"
    curl = re.search(r'data-testid="token-curl">([^<]+)<', page).group(1)
    assert html.unescape(curl) == (
        f'curl -H "Authorization: Bearer {secret}" "{export}" -o tasks.csv'
    )
    pandas = html.unescape(re.search(r'data-testid="token-pandas">([^<]+)<', page).group(1))
    assert "import pandas as pd" in pandas
    assert f'"{export}"' in pandas and f'"Bearer {secret}"' in pandas
    # Copy buttons come with the page's script (a static file: the CSP refuses inline ones)
    # and stay hidden without it; the token is text to select either way.
    assert page.count('data-copy="token-') == 3 and "hidden>Copy" in page
    assert re.search(r"<script src=\"/static/js/tokens\.[^\"]*js\" defer>", page)
    assert "<script>" not in page
    # Shown once: the page read again holds neither the token nor the lines.
    again = client.get("/api/v1/tokens/").content.decode()
    assert secret not in again and "token-curl" not in again


def test_the_token_lines_download_the_export(client, world):
    client.force_login(world.users["analyst"])
    page = client.post("/api/v1/tokens/", {"name": "notebook", "expires": "90"}).content.decode()
    curl = html.unescape(re.search(r'data-testid="token-curl">([^<]+)<', page).group(1))
    header, url = re.fullmatch(r'curl -H "([^"]+)" "([^"]+)" -o tasks.csv', curl).groups()
    name, value = header.split(": ", 1)
    client.logout()
    response = client.get(url, **{f"HTTP_{name.upper()}": value})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
