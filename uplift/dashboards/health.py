"""``/healthz`` for load balancers: 200 when the database and the broker answer, 503 otherwise.

It is a middleware at the top of the stack so that probes by IP address are answered before
host validation and the HTTPS redirect, and never touch a session.
"""

from django.db import connection
from django.http import JsonResponse

from uplift.celery_app import app as celery_app

PATH = "/healthz"


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != PATH:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"error": "method not allowed"}, status=405)
        checks = {"database": database_answers(), "broker": broker_answers()}
        healthy = all(checks.values())
        response = JsonResponse(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status=200 if healthy else 503,
        )
        response["Cache-Control"] = "no-store"
        return response


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def broker_answers() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            # Virtual transports connect lazily: ask the server itself where there is one.
            client = getattr(conn.default_channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()
        return True
    except Exception:
        return False
