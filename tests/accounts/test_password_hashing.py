"""Passwords are stored with PBKDF2 (the tests elsewhere hash them fast, with MD5)."""

import pytest
from django.contrib.auth.hashers import identify_hasher

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_tests_hash_passwords_fast():
    # A full PBKDF2 per sign-in would make the suite minutes slower (conftest.py).
    assert identify_hasher(UserFactory(username="ada").password).algorithm == "md5"


def test_production_hashes_passwords_with_pbkdf2(production_password_hashers):
    user = UserFactory(username="ada")
    user.set_password("violet-otter-quarries-1937")
    user.save()
    assert identify_hasher(user.password).algorithm == "pbkdf2_sha256"
    assert int(user.password.split("$")[1]) >= 1_000_000  # iterations


def test_a_password_stored_with_pbkdf2_signs_in(client, production_password_hashers):
    user = UserFactory(username="ada")
    user.set_password("violet-otter-quarries-1937")
    user.save()
    response = client.post(
        "/accounts/login/",
        {"username": "ada", "password": "violet-otter-quarries-1937"},
        secure=True,
    )
    assert (response.status_code, response["Location"]) == (302, "/")
