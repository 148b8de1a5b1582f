"""Wrong passwords lock a username from one client address, and an address for every username.

Never a username from everywhere: a stranger who knows a colleague's username cannot lock them
out. Behind a trusted proxy the client address comes from X-Forwarded-For; otherwise that header
is the client's own word and is ignored.
"""

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory

from tests.factories import UserFactory
from uplift.accounts.signin import client_address

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PROXY = "10.0.0.2"
ATTACKER = "203.0.113.7"
VICTIM = "198.51.100.9"


def sign_in(client, username: str, password: str, address: str = ATTACKER, **headers):
    return client.post(
        LOGIN,
        {"username": username, "password": password},
        secure=True,
        REMOTE_ADDR=address,
        **headers,
    )


def via_proxy(client, username: str, password: str, forwarded_for: str):
    return sign_in(client, username, password, PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = [PROXY]


def test_five_wrong_passwords_lock_the_account_even_with_the_right_one(client, password):
    UserFactory(username="ada")
    for _ in range(4):
        response = sign_in(client, "ada", "wrong password")
        assert "enter a correct username and password" in response.content.decode()
    assert sign_in(client, "ada", "wrong password").status_code == 429  # the fifth locks
    locked = sign_in(client, "ada", password)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lock_holds_for_that_address_only(client, password):
    UserFactory(username="ada")
    for _ in range(5):
        sign_in(client, "ada", "wrong password")
    response = sign_in(client, "ada", password, address=VICTIM)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_successful_sign_in_resets_the_count(client, password):
    UserFactory(username="ada")
    for _ in range(4):
        sign_in(client, "ada", "wrong password")
    assert sign_in(client, "ada", password).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, "ada", "wrong password")
    assert sign_in(client, "ada", password).status_code == 302


def test_behind_the_proxy_a_stranger_cannot_lock_a_colleague_out(client, password, behind_proxy):
    UserFactory(username="ada")
    for _ in range(4):
        assert via_proxy(client, "ada", "wrong password", ATTACKER).status_code == 200
    assert via_proxy(client, "ada", "wrong password", ATTACKER).status_code == 429
    # The same username, through the same proxy, from the colleague's own address.
    response = via_proxy(client, "ada", password, VICTIM)
    assert (response.status_code, response["Location"]) == (302, "/")
    assert AccessAttempt.objects.get().ip_address == ATTACKER


def test_behind_the_proxy_the_guessing_client_stays_locked(client, password, behind_proxy):
    UserFactory(username="ada")
    for _ in range(5):
        via_proxy(client, "ada", "wrong password", ATTACKER)
    # Its own proxy appends the real address, whatever the client put in front of it.
    assert via_proxy(client, "ada", password, ATTACKER).status_code == 429
    assert via_proxy(client, "ada", password, f"{VICTIM}, {ATTACKER}").status_code == 429


def test_without_a_trusted_proxy_a_forwarded_for_header_is_ignored(client, password):
    UserFactory(username="ada")
    for n in range(5):
        sign_in(client, "ada", "wrong password", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert sign_in(client, "ada", password, HTTP_X_FORWARDED_FOR=VICTIM).status_code == 429
    assert AccessAttempt.objects.get().ip_address == ATTACKER


def test_a_client_that_is_not_the_proxy_cannot_name_its_address(client, password, behind_proxy):
    UserFactory(username="ada")
    for n in range(5):
        sign_in(client, "ada", "wrong password", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert sign_in(client, "ada", password, HTTP_X_FORWARDED_FOR=VICTIM).status_code == 429


def test_one_address_trying_many_usernames_is_locked_for_all_of_them(client, password, settings):
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT == 20
    for name in ("ada", "lin", "ana", "bob", "eve", "kim"):
        UserFactory(username=name)
    # Four wrong passwords on each of five usernames: no username is locked, the address is.
    for name in ("ada", "lin", "ana", "bob"):
        for _ in range(4):
            assert sign_in(client, name, "wrong password").status_code == 200
    for _ in range(3):
        assert sign_in(client, "eve", "wrong password").status_code == 200
    assert sign_in(client, "eve", "wrong password").status_code == 429  # the twentieth
    locked = sign_in(client, "kim", password)  # a username not tried before
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    # Everyone signs in from anywhere else.
    assert sign_in(client, "kim", password, address=VICTIM).status_code == 302


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded_for", "expected"),
    [
        ([], ATTACKER, VICTIM, ATTACKER),
        ([PROXY], ATTACKER, VICTIM, ATTACKER),
        ([PROXY], PROXY, ATTACKER, ATTACKER),
        ([PROXY], PROXY, f"{VICTIM}, {ATTACKER}", ATTACKER),
        ([PROXY], PROXY, "", PROXY),
        ([PROXY], PROXY, "not-an-address", PROXY),
        (["10.0.0.0/8"], PROXY, f"{VICTIM}, {ATTACKER}, 10.1.2.3", ATTACKER),
        (["10.0.0.0/8"], PROXY, "10.9.9.9, 10.1.2.3", "10.9.9.9"),
        (["::1"], "::1", " 2001:db8::7 ", "2001:db8::7"),
        ([PROXY], f"::ffff:{PROXY}", f"::ffff:{ATTACKER}", ATTACKER),
    ],
)
def test_the_client_address(settings, trusted, remote, forwarded_for, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_address(request) == expected
