"""Repeated wrong passwords lock that username from that address for a while."""

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(
        LOGIN, {"username": username, "password": password}, secure=True, REMOTE_ADDR=address
    )


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
    response = sign_in(client, "ada", password, address="198.51.100.9")
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
