"""Passwords are checked when they change, sessions expire, and no password reaches a log."""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

CHANGE = "/accounts/password/"
STRONG = "violet-otter-quarries-1937"


@pytest.fixture
def signed_in(client):
    user = UserFactory(username="ada", first_name="Ada", last_name="Lovelace")
    client.force_login(user)
    return user


def change_password(client, new: str, old: str = PASSWORD):
    return client.post(
        CHANGE,
        {"old_password": old, "new_password1": new, "new_password2": new},
        secure=True,
    )


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short7", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("4815162342", "This password is entirely numeric."),
        ("adalovelace", "The password is too similar to the"),
    ],
)
def test_a_weak_new_password_is_refused_and_the_old_one_kept(client, signed_in, new, message):
    response = change_password(client, new)
    assert response.status_code == 200
    assert message in response.content.decode()
    signed_in.refresh_from_db()
    assert signed_in.check_password(PASSWORD)


def test_a_wrong_old_password_is_refused(client, signed_in):
    response = change_password(client, STRONG, old="not my password")
    assert "Your old password was entered incorrectly" in response.content.decode()
    signed_in.refresh_from_db()
    assert signed_in.check_password(PASSWORD)


def test_a_strong_password_is_taken_and_signs_out_other_sessions(client, signed_in):
    elsewhere = Client()
    elsewhere.force_login(signed_in)
    assert elsewhere.get("/", secure=True).status_code == 200

    response = change_password(client, STRONG)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/done/"
    signed_in.refresh_from_db()
    assert signed_in.check_password(STRONG)
    assert client.get("/", secure=True).status_code == 200  # this session stays
    assert elsewhere.get("/", secure=True)["Location"] == "/accounts/login/?next=/"


def test_the_change_page_is_linked_from_every_page_and_asks_for_the_old_password(client, signed_in):
    today = client.get("/", secure=True).content.decode()
    assert f'href="{CHANGE}"' in today
    page = client.get(CHANGE, secure=True).content.decode()
    assert 'name="old_password"' in page
    assert "at least 8 characters" in page  # the validators' help, shown before typing


def test_there_is_no_password_reset_by_email(client):
    # Uplift sends no mail: a reset form would fail or silently do nothing.
    assert client.get("/accounts/password_reset/", secure=True).status_code == 404
    assert "administrator" in client.get("/accounts/login/", secure=True).content.decode()


def test_a_session_lasts_twelve_hours_then_asks_to_sign_in_again(client):
    UserFactory(username="ada")
    response = client.post(
        "/accounts/login/", {"username": "ada", "password": PASSWORD}, secure=True
    )
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == 12 * 60 * 60
    assert cookie["httponly"] and cookie["secure"]
    assert client.get("/", secure=True).status_code == 200

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get("/", secure=True)["Location"] == "/accounts/login/?next=/"


def test_no_password_reaches_the_logs_or_the_failure_records(client, caplog):
    caplog.set_level(logging.DEBUG)
    user = UserFactory(username="ada")
    wrong = "wrong-but-close-correct-horse"
    client.post("/accounts/login/", {"username": "ada", "password": wrong}, secure=True)
    client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}, secure=True)
    change_password(client, STRONG)
    change_password(client, "short7", old=STRONG)
    user.refresh_from_db()
    assert user.check_password(STRONG)

    assert AccessFailureLog.objects.filter(username="ada").count() == 1
    assert "AXES: New login failure" in caplog.text  # logged, with its details masked
    records = [
        caplog.text,
        *(str(vars(row)) for row in AccessFailureLog.objects.all()),
        *(str(vars(row)) for row in AccessAttempt.objects.all()),
    ]
    for secret in (wrong, PASSWORD, STRONG, "short7"):
        assert not any(secret in record for record in records), secret
