"""Who is signing in from where, and when repeated wrong passwords lock them out.

Two locks, both kept by django-axes in its failed-attempt table:

- a username from one client address, after ``AXES_FAILURE_LIMIT`` wrong passwords: it stops
  guessing one person's password, and does not stop that person from signing in elsewhere;
- a client address for every username, after ``LOGIN_ADDRESS_FAILURE_LIMIT`` wrong passwords:
  it stops one address from trying a few passwords on each of many usernames.

No lock is on a username alone, so a stranger who knows a colleague's username cannot lock them
out from another address. Behind a proxy every connection comes from the proxy, so the client
address is read from ``X-Forwarded-For``, but only as far as the hops listed in
``TRUSTED_PROXIES`` wrote it: a client's own header is never believed.
"""

import ipaddress
from functools import cache

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack server sees IPv4 clients as ::ffff:a.b.c.d: one client, one address.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(request: HttpRequest) -> str | None:
    """The address of the client, as django-axes records it (``AXES_CLIENT_IP_CALLABLE``).

    The connection's own address (``REMOTE_ADDR``), unless it is one of ``TRUSTED_PROXIES``:
    then ``X-Forwarded-For`` is read from the right (each proxy appends the address it was
    reached from) and the first hop that is not a trusted proxy is the client.
    """
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return None
    trusted = _trusted_networks(tuple(settings.TRUSTED_PROXIES))

    def is_trusted(address: Address) -> bool:
        return any(address in network for network in trusted)

    client = remote
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        if not is_trusted(client):
            break
        address = _address(hop)
        if address is None:  # not written by a trusted proxy: stop at the last proxy
            break
        client = address
    return str(client)


class SignInLockoutHandler(AxesDatabaseHandler):
    """django-axes' database handler, plus the lock of an address for every username."""

    def address_failures(self, request: HttpRequest) -> int:
        """Wrong passwords from the request's address within the cool-off, for any username."""
        recent = AccessAttempt.objects.filter(
            ip_address=request.axes_ip_address,
            attempt_time__gte=get_cool_off_threshold(request),
        )
        return recent.aggregate(n=Sum("failures_since_start"))["n"] or 0

    def address_locked(self, request: HttpRequest) -> bool:
        return self.address_failures(request) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT

    def is_locked(self, request, credentials=None) -> bool:
        return super().is_locked(request, credentials) or self.address_locked(request)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if self.is_whitelisted(request, credentials) or not self.address_locked(request):
            return
        request.axes_locked_out = True
        request.axes_credentials = credentials
        user_locked_out.send(
            "axes",
            request=request,
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        )
