"""Per-user throttling of writes: reads are cheap and paginated, writes run services."""

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class WriteThrottle(UserRateThrottle):
    """Limits POST, PUT, PATCH and DELETE per user at the ``api_writes`` rate."""

    scope = "api_writes"

    def get_rate(self):
        # Read at request time so that a changed setting (tests, reload) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
