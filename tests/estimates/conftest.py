import pytest
import redis
from django.conf import settings


@pytest.fixture
def broker():
    """The test Redis database, emptied, as the queue the app publishes to."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()
