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
from uplift.accounts.backends import UserBackend
from uplift.accounts.models import User
from uplift.accounts.sessions import SessionStore
from uplift.api.models import ApiToken

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
        REMOTE_ADDR="203.0.113.7",
    )


def api_status(secret: str) -> int:
    """The status of an API read with this bearer token, from a client with no session."""
    return (
        Client()
        .get("/api/v1/tasks/", secure=True, HTTP_AUTHORIZATION=f"Bearer {secret}")
        .status_code
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
    assert "Changing your password revokes all your API tokens" in page


def test_five_wrong_old_passwords_lock_the_change_and_the_sign_in(client, signed_in):
    for _ in range(4):
        response = change_password(client, STRONG, old="not my password")
        assert "Your old password was entered incorrectly" in response.content.decode()
    locked = change_password(client, STRONG, old="not my password")  # the fifth locks
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    # Locked: even the right old password changes nothing, and signing in is refused too.
    assert change_password(client, STRONG).status_code == 429
    signed_in.refresh_from_db()
    assert signed_in.check_password(PASSWORD)
    response = Client().post(
        "/accounts/login/",
        {"username": "ada", "password": PASSWORD},
        secure=True,
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 429
    # Five wrong old passwords, then the two refused while locked: one count for both pages.
    assert AccessAttempt.objects.get().failures_since_start == 7


def test_a_password_change_revokes_every_api_token_of_that_user(client, signed_in):
    _, notebook = ApiToken.objects.create(user=signed_in, expiry=None, name="notebook")
    _, script = ApiToken.objects.create(user=signed_in, expiry=None, name="script")
    _, colleague = ApiToken.objects.create(user=UserFactory(), expiry=None, name="other")
    assert [api_status(secret) for secret in (notebook, script, colleague)] == [200, 200, 200]

    assert change_password(client, STRONG, old="not my password").status_code == 200
    assert api_status(notebook) == 200  # a refused change revokes nothing

    assert change_password(client, STRONG)["Location"] == "/accounts/password/done/"
    assert [api_status(secret) for secret in (notebook, script, colleague)] == [401, 401, 200]
    assert not ApiToken.objects.filter(user=signed_in).exists()
    done = client.get("/accounts/password/done/", secure=True).content.decode()
    assert "Your API tokens are revoked" in done


def test_a_password_set_by_an_administrator_revokes_the_tokens_too(client, signed_in):
    _, secret = ApiToken.objects.create(user=signed_in, expiry=None, name="notebook")
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post(
        f"/admin/accounts/user/{signed_in.pk}/password/",
        {"password1": STRONG, "password2": STRONG},
        secure=True,
    )
    assert response.status_code == 302
    signed_in.refresh_from_db()
    assert signed_in.check_password(STRONG)
    assert api_status(secret) == 401
    # Saving anything else about the user keeps the tokens.
    _, kept = ApiToken.objects.create(user=signed_in, expiry=None, name="again")
    signed_in.first_name = "Augusta"
    signed_in.save()
    assert api_status(kept) == 200


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
    wrong_old = "a-wrong-old-password-42"
    change_password(client, "another-long-password-77", old=wrong_old)
    user.refresh_from_db()
    assert user.check_password(STRONG)

    assert AccessFailureLog.objects.filter(username="ada").count() == 2
    assert "AXES: New login failure" in caplog.text  # logged, with its details masked
    records = [
        caplog.text,
        *(str(vars(row)) for row in AccessFailureLog.objects.all()),
        *(str(vars(row)) for row in AccessAttempt.objects.all()),
    ]
    assert AccessAttempt.objects.filter(path_info=CHANGE).exists()  # its form data was kept
    for secret in (wrong, PASSWORD, STRONG, "short7", wrong_old, "another-long-password-77"):
        assert not any(secret in record for record in records), secret


def test_signing_out_ends_the_session_and_a_deactivated_account_is_signed_out(client):
    """Sessions are read in SQL of our own (uplift/accounts/sessions.py): a session that was
    deleted, or whose user was deactivated, no longer signs anyone in."""
    user = UserFactory(username="ada")
    client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}, secure=True)
    assert client.get("/", secure=True).status_code == 200
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert SessionStore(cookie).load()["_auth_user_id"] == str(user.pk)

    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get("/", secure=True)["Location"] == "/accounts/login/?next=/"

    user.is_active = True
    user.save(update_fields=["is_active"])
    client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}, secure=True)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/", secure=True).status_code == 200
    client.post("/accounts/logout/", secure=True)
    assert not Session.objects.filter(session_key=cookie).exists()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie  # replayed after signing out
    assert client.get("/", secure=True)["Location"] == "/accounts/login/?next=/"
    assert SessionStore(cookie).load() == {}


def test_an_expired_session_is_not_read():
    store = SessionStore()
    store["kept"] = "yes"
    store.create()
    assert SessionStore(store.session_key).load() == {"kept": "yes"}
    Session.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    expired = SessionStore(store.session_key)
    assert expired.load() == {}
    assert expired.session_key is None  # a new session, never the expired one's key


def test_the_signed_in_user_is_read_whole_and_only_while_active():
    backend = UserBackend()
    user = UserFactory(username="ada", first_name="Ada", is_staff=True)
    read = backend.get_user(user.pk)
    assert read == user
    fields = [f.attname for f in User._meta.concrete_fields]
    assert [getattr(read, f) for f in fields] == [getattr(user, f) for f in fields]
    assert read.date_joined.tzinfo is not None
    assert backend.get_user(user.pk + 1000) is None
    assert backend.get_user(2**63) is None  # beyond the column: nobody, not an error
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert backend.get_user(user.pk) is None
