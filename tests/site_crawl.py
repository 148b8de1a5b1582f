"""What a crawler of the site needs: its URL patterns, concrete paths for them, and the links
and forms in a page.

The patterns are read from Django's resolver, so a URL added to any ``urls.py`` (or to the
admin, or the API router) shows up here without anyone listing it.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

SITE_HOST = "testserver"
# ``<int:task_id>``, ``<uidb64>`` in a route; ``(?P<app_label>...)`` in a regular expression.
_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")
_REGEX_GROUP_START = re.compile(r"\(\?P<(?P<name>\w+)>")


@dataclass(frozen=True)
class UrlRoute:
    """One URL pattern of the site, by its full route as ``ResolverMatch.route`` spells it."""

    route: str
    callback: object

    @property
    def parameters(self) -> frozenset[str]:
        names = {m["name"] for m in _ROUTE_PARAMETER.finditer(self.route)}
        names |= {m["name"] for m in _REGEX_GROUP_START.finditer(self.route)}
        return frozenset(names)

    def regex_alternatives(self, name: str) -> list[str]:
        """The choices of a ``(?P<name>a|b|c)`` group, such as the admin's app labels."""
        body, _ = _regex_group(self.route, name)
        return body.split("|")

    def path(self, values: Mapping[str, object]) -> str:
        """The path of this route with ``values`` in place of its parameters."""
        route = self.route
        # Regular expression groups first: ``(?P<name>`` also reads as a route's ``<name>``.
        for name in {m["name"] for m in _REGEX_GROUP_START.finditer(route)}:
            _, (start, end) = _regex_group(route, name)
            route = route[:start] + str(values[name]) + route[end:]
        route = _ROUTE_PARAMETER.sub(lambda m: str(values[m["name"]]), route)
        return "/" + route.replace("^", "").replace("$", "")


def _regex_group(route: str, name: str) -> tuple[str, tuple[int, int]]:
    """The body of the named group in ``route`` and the span of the whole group."""
    match = re.search(rf"\(\?P<{name}>", route)
    depth, index = 1, match.end()
    while depth:
        depth += {"(": 1, ")": -1}.get(route[index], 0)
        index += 1
    return route[match.end() : index - 1], (match.start(), index)


def site_routes() -> list[UrlRoute]:
    """Every URL pattern reachable from the root URLconf, includes walked."""
    return list(_walk(get_resolver().url_patterns, ""))


def _walk(patterns, prefix: str) -> Iterator[UrlRoute]:
    for pattern in patterns:
        # The same join as URLResolver.resolve, so routes compare equal to ResolverMatch.route.
        route = URLResolver._join_route(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield UrlRoute(route=route, callback=pattern.callback)


def route_of(path: str) -> str | None:
    """The route that serves ``path``, or None when no pattern matches it."""
    try:
        return resolve(path).route
    except Resolver404:
        return None


def site_url(base: str, href: str) -> str | None:
    """``href`` (relative to the page ``base``) as a path and query on this site, else None."""
    parts = urlsplit(urljoin(base, href.strip()))
    if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", SITE_HOST):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class PageForm:
    """An HTML form: where it goes, how, and the values it would send."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def has_csrf_token(self) -> bool:
        return bool(self.fields.get("csrfmiddlewaretoken"))


class PageParser(HTMLParser):
    """Collects a page's links (href and src) and its forms with their default values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[PageForm] = []
        self._form: PageForm | None = None
        self._field: tuple[str, str] | None = None  # a textarea or select being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        for name in ("href", "src"):
            if attributes.get(name):
                self.links.append(attributes[name])
        if tag == "form":
            self._form = PageForm(
                action=attributes.get("action", ""),
                method=attributes.get("method", "get").lower(),
            )
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        if tag == "option" and self._field and self._field[0] == "select":
            # The selected option, else the first with a value: a form that would do something.
            if "selected" in attributes or not self._form.fields[self._field[1]]:
                self._form.fields[self._field[1]] = attributes.get("value", "")
            return
        name = attributes.get("name")
        if not name:
            return
        if tag == "input":
            kind = attributes.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            if kind not in ("submit", "button", "image", "file"):
                self._form.fields[name] = attributes.get("value", "")
        elif tag in ("textarea", "select"):
            self._form.fields.setdefault(name, "")
            self._field = (tag, name)
        elif tag == "button" and attributes.get("value"):
            self._form.fields.setdefault(name, attributes["value"])

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._field and self._field[0] == "textarea":
            self._form.fields[self._field[1]] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag in ("textarea", "select"):
            self._field = None


def parse_page(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser
