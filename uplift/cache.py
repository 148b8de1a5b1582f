"""The shared cache (``CACHE_URL``): Redis, which the app can do without.

Every web process counts API writes and keeps rendered dashboards in the one cache. Django's
Redis cache raises when Redis does not answer; this one logs it, answers as if the key were
missing, and leaves Redis alone for ``RETRY_SECONDS``, so an outage costs each process one
short socket timeout now and then, never a page. Until Redis is back, dashboards are computed
on every request and API writes are not throttled.
"""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
# Until when (time.monotonic) each Redis URL is left alone; shared by the threads of a process.
_down_until: dict[str, float] = {}


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache, with each read a miss and each write dropped while Redis is down."""

    def _guarded(self, fallback, call, *args):
        """``call(*args)``, or ``fallback`` if Redis fails now or failed a moment ago."""
        location = ",".join(self._servers)
        if time.monotonic() < _down_until.get(location, 0.0):
            return fallback
        try:
            return call(*args)
        except RedisError as error:
            _down_until[location] = time.monotonic() + RETRY_SECONDS
            logger.warning(
                "The cache (Redis) did not answer (%s); serving without it for %.0f s.",
                error,
                RETRY_SECONDS,
            )
            return fallback

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(False, super().add, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._guarded(default, super().get, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._guarded(None, super().set, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._guarded(False, super().delete, key, version)

    def get_many(self, keys, version=None):
        return self._guarded({}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._guarded(False, super().has_key, key, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(list(data), super().set_many, data, timeout, version)

    def delete_many(self, keys, version=None):
        self._guarded(None, super().delete_many, keys, version)
