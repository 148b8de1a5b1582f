"""Each role lands where it works, and the navigation offers only what the role can use
(uplift/accounts/access.py, docs/product.md "Landing pages")."""

import re

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, MembershipFactory, TeamFactory, UserFactory
from uplift.accounts.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    """ada researches and lin leads in Alignment, ana is an analyst, root an admin, and
    nobody is signed up but holds no role yet."""
    alignment = TeamFactory(name="Alignment")
    people = {name: UserFactory(username=name) for name in ("ada", "lin", "ana", "root", "nobody")}
    people["root"].is_staff = True
    people["root"].save()
    for name, role in (
        ("ada", Membership.Role.RESEARCHER),
        ("lin", Membership.Role.LEAD),
        ("ana", Membership.Role.ANALYST),
    ):
        MembershipFactory(user=people[name], team=alignment, role=role)
    return people


# role -> (where signing in lands, where "/" leads: None for Today itself)
LANDING = {
    "ada": ("/", None),
    "lin": ("/dashboards/", None),  # a lead who logs their own tasks still has Today at /
    "ana": ("/api/v1/tokens/", "/api/v1/tokens/"),
    "root": ("/dashboards/org/", "/dashboards/org/"),
    "nobody": ("/", None),
}


def sign_in(client, username: str, **query):
    url = reverse("login") + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return client.post(url, {"username": username, "password": PASSWORD}, secure=True)


@pytest.mark.parametrize("name", LANDING)
def test_signing_in_lands_each_role_where_it_works(client, people, name):
    response = sign_in(client, name)
    assert response.status_code == 302
    assert response["Location"] == LANDING[name][0]
    assert client.get(response["Location"], secure=True).status_code == 200


@pytest.mark.parametrize("name", LANDING)
def test_home_is_today_for_those_who_plan_and_a_redirect_for_the_others(client, people, name):
    client.force_login(people[name])
    response = client.get("/", secure=True)
    redirect_to = LANDING[name][1]
    if redirect_to is None:
        assert response.status_code == 200
        assert "<h1>Today</h1>" in response.content.decode()
    else:
        assert response.status_code == 302
        assert response["Location"] == redirect_to


@pytest.mark.parametrize("name", ["ana", "root", "lin"])
def test_an_explicit_next_still_wins(client, people, name):
    response = sign_in(client, name, next="/history/")
    assert response["Location"] == "/history/"


def test_an_unsafe_next_lands_on_the_roles_page(client, people):
    response = sign_in(client, "ana", next="https://elsewhere.example/")
    assert response["Location"] == "/api/v1/tokens/"


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)[1]
    return re.findall(r">([^<>]+)</a>", nav)


# role -> the main navigation's links, in order
NAVIGATION = {
    "ada": ["Today", "History", "API tokens", "How it works"],
    "lin": ["Today", "History", "Dashboards", "API tokens", "How it works"],
    "ana": ["Dashboards", "API tokens", "How it works"],
    "root": ["Dashboards", "Admin", "API tokens", "How it works"],
    "nobody": ["Today", "History", "API tokens", "How it works"],
}


@pytest.mark.parametrize("name", NAVIGATION)
def test_the_navigation_shows_only_what_the_role_can_use(client, people, name):
    client.force_login(people[name])
    page = client.get(reverse("api:tokens"), secure=True)
    assert nav_links(page.content.decode()) == NAVIGATION[name]
    for link in re.findall(r'href="([^"]+)"', page.content.decode().split("</nav>")[0]):
        if link.startswith("/") and not link.startswith("/static/"):
            assert client.get(link, secure=True).status_code in (200, 302), link
