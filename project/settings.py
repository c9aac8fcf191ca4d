"""Settings of the demo site. Everything that varies between machines is read from the
environment in the block below, with defaults that let ``make run`` work on a laptop."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def cache_url(redis_url: str | None) -> str | None:
    """Return ``redis_url`` with the next database number (of Redis's 16), or None.

    The cache gets a database of its own because clearing a Django Redis cache is
    ``FLUSHDB``: in the channel layer's database it would drop connection slots too.
    """
    if not redis_url:
        return None
    parts = urlsplit(redis_url)
    number = parts.path.strip("/")
    database = int(number) if number.isdigit() else 0
    return urlunsplit(parts._replace(path=f"/{(database + 1) % 16}"))


def _env_flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def _env_count(name: str, default: str) -> int:
    raw = os.environ.get(name, default).strip()
    if not (raw.isascii() and raw.isdigit()):
        raise ImproperlyConfigured(f"{name} must be a whole number, 0 or more, not {raw!r}.")
    return int(raw)


# --- Environment --------------------------------------------------------------------------
DEBUG = _env_flag("DEBUG", "1")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. With DEBUG=0 the site will not run on the development key, "
        "which is public: set SECRET_KEY in the environment to a long random value, e.g. "
        "the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
SECRET_KEY = SECRET_KEY or "dev-only-secret-key-change-me-in-production-0123456789"
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
# Origins whose forms may post here, beyond the site's own (which nginx's Host and
# X-Forwarded-Proto already make right): e.g. https://shop.example.com.
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")
# Reverse proxies in front: 0 trusts no X-Forwarded-* header (a client could forge them); n
# trusts X-Forwarded-Proto and takes the client address from the entry the nearest proxy
# added to X-Forwarded-For (throttles, lockouts).
NUM_PROXIES = _env_count("NUM_PROXIES", "0")
# Served over https: secure cookies, HSTS, and a redirect to https (not for /healthz and
# /metrics, which a load balancer and Prometheus reach on a process directly).
HTTPS = _env_flag("HTTPS", "0")
HSTS_SECONDS = _env_count("HSTS_SECONDS", "31536000")
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Several comma-separated URLs shard the live routes over several Redis servers (the channel
# layer's own ``hosts``); connection slots and throttle counts live on the first.
REDIS_URLS = _env_list("REDIS_URL")
REDIS_URL = REDIS_URLS[0] if REDIS_URLS else None
# Sites (or test runs) sharing one Redis database keep apart with their own prefixes.
CHANNELS_PREFIX = os.environ.get("CHANNELS_PREFIX", "asgi")
CORS_ALLOWED_ORIGINS = _env_list("CORS_ALLOWED_ORIGINS")
# Throttle counts, shared by every process: by default the next database
# of REDIS_URL's server, so that clearing the cache cannot touch the channel layer's keys.
REDIS_CACHE_URL = os.environ.get("REDIS_CACHE_URL") or cache_url(REDIS_URL)
# Email: Django's own settings, used for notification emails. Without EMAIL_HOST, emails are
# printed on the console instead of sent.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "0").lower() in ("1", "true", "yes", "on")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Beacon <notifications@localhost>")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
# The absolute base of links in emails.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Password-reset emails (project/passwords.py): at most this many requests per typed address
# and per client in each window of PASSWORD_RESET_WINDOW_SECONDS; over either, none is sent.
PASSWORD_RESET_PER_ADDRESS = _env_count("PASSWORD_RESET_PER_ADDRESS", "3")
PASSWORD_RESET_PER_CLIENT = _env_count("PASSWORD_RESET_PER_CLIENT", "10")
PASSWORD_RESET_WINDOW_SECONDS = _env_count("PASSWORD_RESET_WINDOW_SECONDS", "3600")
NOTIFICATIONS = {
    "HEARTBEAT_SECONDS": float(os.environ.get("NOTIFICATIONS_HEARTBEAT_SECONDS", "30")),
    "MAX_CONNECTIONS_PER_USER": int(os.environ.get("NOTIFICATIONS_MAX_CONNECTIONS_PER_USER", "5")),
    "REDIS_URL": REDIS_URL,
    "REDIS_PREFIX": os.environ.get("NOTIFICATIONS_REDIS_PREFIX", "notifications"),
    # Web Push, on when both keys are set (``manage.py generate_vapid_keys`` prints them).
    "WEBPUSH": {
        "PRIVATE_KEY": os.environ["WEBPUSH_PRIVATE_KEY"],
        "PUBLIC_KEY": os.environ["WEBPUSH_PUBLIC_KEY"],
        "SUBJECT": os.environ.get("WEBPUSH_SUBJECT", "mailto:webmaster@localhost"),
    }
    if os.environ.get("WEBPUSH_PRIVATE_KEY") and os.environ.get("WEBPUSH_PUBLIC_KEY")
    else None,
    "ROUTED_FANOUT": _env_count("NOTIFICATIONS_ROUTED_FANOUT", "64"),
    # What users choose per kind (the inbox's preferences panel): the orders app's kinds,
    # and the site's own account-security kind, which nobody can turn off.
    "KINDS": {
        "order.placed": {
            "category": "orders",
            "actions": [{"label": _("View order"), "url": "/orders/{order}/"}],
            "label": _("Order placed"),
            "email": False,
            "title": _("Order #{number} placed"),
            "body": _("We have received your order. Total: {total:.2f}."),
        },
        "order.paid": {
            "category": "orders",
            "actions": [{"label": _("View order"), "url": "/orders/{order}/"}],
            "label": _("Payment received"),
            "email": False,
            "title": _("Order #{number} paid"),
            "body": _("We have received your payment of {total:.2f}."),
        },
        "order.shipped": {
            "push": True,
            "category": "orders",
            "actions": [
                {"label": _("View order"), "url": "/orders/{order}/"},
                {"label": _("Track parcel"), "url": "https://parcels.example.com/track/{order}"},
            ],
            "label": _("Order shipped"),
            "email": True,
            "title": _("Order #{number} shipped"),
            "body": _("Your order is on its way."),
        },
        "order.delivered": {
            "push": True,
            "category": "orders",
            "actions": [{"label": _("View order"), "url": "/orders/{order}/"}],
            "label": _("Order delivered"),
            "email": True,
            "title": _("Order #{number} delivered"),
            "body": _("Your order has been delivered."),
        },
        "order.cancelled": {
            "category": "orders",
            "actions": [{"label": _("View order"), "url": "/orders/{order}/"}],
            "label": _("Order cancelled"),
            "email": True,
            "title": _("Order #{number} cancelled"),
            "body": _("Your order has been cancelled."),
        },
        "account.security": {
            "push": True,
            "category": "account",
            "label": _("Account security"),
            "critical": True,
            "email": True,
            "title": _("Your password was changed"),
            "body": _("If this was not you, reset your password now and tell us."),
        },
    },
    # The inbox's tabs, in this order.
    "CATEGORIES": {"orders": _("Orders"), "account": _("Account")},
    # GET /metrics answers its bearer only (404 while unset); PROMETHEUS_MULTIPROC_DIR,
    # read by prometheus-client itself, makes one scrape cover every server process.
    "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
    "SLOW_CLIENT_BUFFER_BYTES": int(
        os.environ.get("NOTIFICATIONS_SLOW_CLIENT_BUFFER_BYTES", "1048576")
    ),
}
if NUM_PROXIES >= 1:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if HTTPS:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    if SITE_URL.startswith("https://"):
        # To the public origin, port included: a request over plain http names the http
        # port in its Host, never the one https is served on.
        SECURE_SSL_HOST = urlsplit(SITE_URL).netloc
    SECURE_HSTS_SECONDS = HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_flag("HSTS_INCLUDE_SUBDOMAINS", "1")
    SECURE_HSTS_PRELOAD = _env_flag("HSTS_PRELOAD", "1")
# -------------------------------------------------------------------------------------------

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "notifications",
    "project.orders",
    "project.accounts",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After AuthenticationMiddleware: the signed-in user's language, else the browser's.
    "notifications.i18n.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out log-in into AXES_LOCKOUT_CALLABLE's page.
    "axes.middleware.AxesMiddleware",
]

# Every response says what its content is (no sniffing a JSON body into a script) and sends
# no Referer to other sites: a page's path can name an order. The event stream, served
# outside the middleware, gets both from notifications.asgi.with_lean_stream.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): scripts only from this origin's files, never inline,
# no eval, so an injected <script> or onclick= does not run. Inline styles are allowed, for
# pages whose templates are not ours: Django's admin writes a <style> block (a change list
# without actions) and drf-spectacular's Swagger UI page has one; a style runs no code.
# Images may be data: URLs (the favicon, Swagger UI's icons). Not framed anywhere, as
# X-Frame-Options already says.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # One test database per test process, so that concurrent test runs do not collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    # Streams close their connection after each query; the pool makes that cheap.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "8")),
        # How long a request waits for a connection: under load, or while PostgreSQL is
        # down, after which it is answered 503 ("try again") rather than left hanging.
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "10")),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so a notify() in another process (the
    # management command) waits its turn instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, so that servers started by the end-to-end tests share the test database;
    # one per test process, so that concurrent test runs do not share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"notifications-test-{os.getpid()}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def channel_layers(redis_urls: str | list[str] | None, prefix: str = "asgi") -> dict[str, Any]:
    """Return ``CHANNEL_LAYERS``: channels-redis with URLs (a list, or one string with
    commas between them), else the in-memory layer.

    The pub/sub layer: each server process's hub is one subscriber, and a publish is one
    ``PUBLISH``. The core layer costs four Redis round trips per message received: at 500
    notifications/s its p99 latency was 33 ms against 5 ms (docs/PERFORMANCE.md). Pub/sub
    keeps nothing for a subscriber that is away; the stream does not need it to, since the
    database is the log and the hub notices a dead feed (see ``notifications.stream.hub``).
    With several URLs, the layer spreads users' routes over them by a hash of each name.
    """
    if isinstance(redis_urls, str):
        redis_urls = [url.strip() for url in redis_urls.split(",") if url.strip()]
    if not redis_urls:
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return {
        "default": {
            "BACKEND": "notifications.delivery.layers.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": list(redis_urls), "prefix": prefix},
        }
    }


CHANNEL_LAYERS = channel_layers(REDIS_URLS, CHANNELS_PREFIX)

CACHES: dict[str, Any] = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_CACHE_URL,
            "KEY_PREFIX": NOTIFICATIONS["REDIS_PREFIX"],
        }
        if REDIS_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# django-axes throttles the log-in page (and the admin's, and POST /api/token/): after
# AXES_FAILURE_LIMIT failures from one client or for one username, further attempts get a
# 429 until AXES_COOLOFF_TIME has passed without one. Counts are rows in the database, so
# every process shares them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "notifications.api.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "project.logins.locked_out"
AXES_DISABLE_ACCESS_LOG = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The languages users may choose (PATCH /api/preferences/ {"language": ...}); without a
# choice, the browser's Accept-Language among them, else LANGUAGE_CODE.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("ar", "العربية")]
# The site's own catalogs; the app's are found in notifications/locale/ by Django itself.
LOCALE_PATHS = [BASE_DIR / "project" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "last-event-id",
    "x-csrftoken",
    "x-requested-with",
)
# The browser client of another origin reads a 429's Retry-After.
CORS_EXPOSE_HEADERS = ("retry-after",)

_FORM_PARSERS = ["rest_framework.parsers.FormParser", "rest_framework.parsers.MultiPartParser"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("TOKEN_THROTTLE_RATE", "20/min")},
    "DEFAULT_PARSER_CLASSES": ["notifications.api.parsers.JSONParser", *_FORM_PARSERS],
    # JSON only: the browsable API (?format=api, Accept: text/html) answered refusals in
    # HTML, and every refusal under /api/ is JSON with a "detail".
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "NUM_PROXIES": NUM_PROXIES,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    # A password change invalidates tokens issued before it.
    "CHECK_REVOKE_TOKEN": True,
    # simplejwt's own authentication (REST_FRAMEWORK's default, e.g. for the schema views)
    # checks claims as the app's views do: a malformed user id or time is a 401, not a 500.
    "AUTH_TOKEN_CLASSES": ("notifications.stream.tokens.AccessToken",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Live notifications API",
    "DESCRIPTION": "Per-user notifications: an inbox over HTTP and a live SSE stream.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "notifications.schema.add_event_stream",
    ],
    # Served from the sidecar app, not a CDN: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Error reports (the 500 page with DEBUG, emails to ADMINS) never show a token.
DEFAULT_EXCEPTION_REPORTER = "notifications.reports.ScrubbingExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "notifications.reports.ScrubbingExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub_tokens": {"()": "notifications.scrub.ScrubTokensFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["scrub_tokens"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "INFO"},
        # Failed log-ins and lockouts are warnings; axes's INFO lines are its bookkeeping.
        "axes": {"level": "WARNING"},
    },
}
