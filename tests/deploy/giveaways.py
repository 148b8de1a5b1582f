"""What no page may show: the server's internals, its settings and its secrets."""

from django.conf import settings

INTERNALS = (
    "Traceback", "settings.py", "SECRET_KEY", "DATABASES", "urlpatterns", "psycopg",
    "OperationalError", "InterfaceError", "SELECT ", "postgres://", "connection to server",
)  # fmt: skip


def leaked(text: str, *secrets: str) -> list[str]:
    """The internals, the secret key and ``secrets`` that appear in ``text``."""
    return [s for s in (*INTERNALS, settings.SECRET_KEY, *secrets) if s in text]
