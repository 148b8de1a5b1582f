"""Uplift settings: one module, everything read from the environment.

With nothing set it runs the zero-setup local mode: SQLite in ``var/`` and a Celery broker on
the filesystem. Production sets ``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``SECRET_KEY``.
"""

import hashlib
import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("UPLIFT_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def _code_version() -> str:
    """A digest of the code and templates, the same in every process of one release."""
    digest = hashlib.sha256()
    files = [*(BASE_DIR / "uplift").rglob("*.py"), *(BASE_DIR / "uplift").rglob("*.html")]
    files += (BASE_DIR / "templates").rglob("*.html")
    for path in sorted(files):
        digest.update(path.relative_to(BASE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-only-used-with-debug-on-0123456789"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "csp",
    "axes",
    "drf_spectacular_sidecar",
    "knox",
    "uplift.accounts",
    "uplift.worklog",
    "uplift.estimates",
    "uplift.dashboards",
    "uplift.api",
]

MIDDLEWARE = [
    "uplift.dashboards.health.HealthCheckMiddleware",
    "uplift.outage.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.access: what the user may see (uplift/accounts/access.py).
    "uplift.accounts.access.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "uplift.urls"
WSGI_APPLICATION = "uplift.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "uplift.worklog.context_processors.running_timer",
            ],
        },
    },
]

# Forms render their inputs, selects and labels in Python, to what Django's templates write
# (uplift/forms_renderer.py): a fifth of the CPU of the task page and Today went to them.
FORM_RENDERER = "uplift.forms_renderer.FastTemplates"

# SQLite by default, in WAL mode with IMMEDIATE transactions so that the web server and the
# worker can write at once without "database is locked".
SQLITE_PATH = VAR_DIR / "uplift.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"),
        conn_max_age=int(env("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0


# The cache: API write counts and rendered dashboards. Production shares one Redis between all
# processes (CACHE_URL, e.g. redis://redis:6379/1: not the broker's database, as clearing the
# cache empties its database); local mode keeps a cache per process. Redis is given a second
# to answer, and an outage only slows pages down (uplift/cache.py).
def redis_cache(url: str) -> dict:
    return {
        "BACKEND": "uplift.cache.FailOpenRedisCache",
        "LOCATION": url,
        # A new release does not read what an older one cached (rendered pages).
        "KEY_PREFIX": _code_version(),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }


CACHE_URL = env("CACHE_URL")
CACHES = {
    "default": redis_cache(CACHE_URL)
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Refuses a locked username or address (below) before checking passwords.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, reading the signed-in user in SQL written once (a session signed
    # in under ModelBackend's name, before this, signs in again).
    "uplift.accounts.backends.UserBackend",
]
# Wrong passwords lock a username from one client address, and an address for every username
# after more of them; never a username from everywhere, which anyone could do to a colleague.
# uplift/accounts/signin.py explains the two locks.
AXES_HANDLER = "uplift.accounts.signin.SignInLockoutHandler"
AXES_FAILURE_LIMIT = int(env("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_ADDRESS_FAILURE_LIMIT = int(env("LOGIN_ADDRESS_FAILURE_LIMIT", "20"))
AXES_COOLOFF_TIME = timedelta(minutes=int(env("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client address: the connection's own, or, from the proxies listed here (addresses or
# networks, e.g. "10.0.0.2,172.16.0.0/12"), the hop before them in X-Forwarded-For.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as error:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {error}.") from None
AXES_CLIENT_IP_CALLABLE = "uplift.accounts.signin.client_address"
# A wrong old password on the password change page counts as a failed sign-in: mask its fields.
AXES_SENSITIVE_PARAMETERS = [
    "username",
    "ip_address",
    "old_password",
    "new_password1",
    "new_password2",
]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failed sign-in stays listed in the admin
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Content Security Policy: scripts, styles and everything else only from this server (the
# vendored Chart.js and Swagger UI included); no inline scripts or style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Django's database sessions, read with SQL written once: every signed-in request reads one.
SESSION_ENGINE = "uplift.accounts.sessions"

# Security: strict unless DEBUG is on (local mode serves plain HTTP on localhost).
SESSION_COOKIE_AGE = int(env("SESSION_COOKIE_AGE", str(60 * 60 * 12)))
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "uplift.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "uplift.api.schema.UpliftAutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "uplift.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "uplift.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "uplift.api.errors.api_exception_handler",
    # `?format=` selects the export format (csv, jsonl), not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
    # Writes are throttled per user; reads are cheap and paginated.
    "DEFAULT_THROTTLE_RATES": {"api_writes": env("API_WRITE_RATE", "120/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Uplift API",
    "DESCRIPTION": (
        "Tasks, work sessions, tool use and uplift estimates. In the Uplift repository: who may "
        "see what, docs/product.md; the worklog CSV of the export and the import, "
        "docs/worklog-csv.md; the estimates, docs/estimation.md. A query parameter an "
        "operation does not take is refused (400, naming it), never ignored; teams, task types "
        "and tools filter by id or by name (any case)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "uplift.worklog.models.Task.Status",
        "SnapshotStatusEnum": "uplift.estimates.models.Snapshot.Status",
    },
}
# Personal API tokens (django-rest-knox): stored hashed, sent as "Authorization: Bearer ...".
KNOX_TOKEN_MODEL = "api.ApiToken"
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": None,  # each token gets the expiry its owner chose on the tokens page
    "TOKEN_PREFIX": "upl_",
}
# knox's own migration would create its default token table (unused: ApiToken replaces it),
# whose foreign key to users then blocks the test database's flush.
MIGRATION_MODULES = {"knox": None}
# Key of the analysts' researcher pseudonyms (HMAC-SHA256); derived from SECRET_KEY unless set.
PSEUDONYM_KEY = (
    env("PSEUDONYM_KEY") or hashlib.sha256(f"uplift-pseudonym:{SECRET_KEY}".encode()).hexdigest()
)

# Celery. The default broker is kombu's filesystem transport: a real worker with no server.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    # Redis: redeliver a message whose worker died after one hour (longer than any job), and
    # give up on a Redis that accepts connections but does not answer (hung, or a full disk).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 5,
        "socket_timeout": 5,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = int(env("CELERY_TASK_TIME_LIMIT", "1800"))
CELERY_TASK_SOFT_TIME_LIMIT = int(env("CELERY_TASK_SOFT_TIME_LIMIT", "1500"))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# A queued refresh runs once tasks have been quiet this many seconds (a burst shares one run),
# or at the latest this long after it was requested.
ESTIMATES_REFRESH_DELAY = float(env("ESTIMATES_REFRESH_DELAY", "5"))
ESTIMATES_REFRESH_MAX_WAIT = float(env("ESTIMATES_REFRESH_MAX_WAIT", "120"))
# A refresh is split into at most this many Celery jobs, run by whichever workers are free.
ESTIMATES_REFRESH_PIECES = int(env("ESTIMATES_REFRESH_PIECES", "16"))
# A running refresh with no sign of life for this long is taken as interrupted by the next one.
ESTIMATES_REFRESH_STALE_SECONDS = float(env("ESTIMATES_REFRESH_STALE_SECONDS", "300"))
CELERY_BEAT_SCHEDULE = {
    "estimates-nightly": {
        "task": "uplift.estimates.tasks.estimates_refresh_scheduled",
        "schedule": crontab(hour=int(env("ESTIMATES_NIGHTLY_HOUR", "3")), minute=0),
    },
    # Runs a refresh that was requested while the broker was unreachable.
    "estimates-catch-up": {
        "task": "uplift.estimates.tasks.estimates_refresh_catch_up",
        "schedule": float(env("ESTIMATES_CATCH_UP_SECONDS", "300")),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
