"""Django settings for baas, read from environment variables (see docs/configuration.md).

Two modes:
- `dev` (the default): everything embedded — SQLite in WAL mode and files under the data folder,
  in-memory channel layer and cache, a Celery transport that needs no server.
- `production` (`BAAS_MODE=production`): refuses to start with a default secret key, with DEBUG on,
  without ALLOWED_HOSTS or without Redis.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dj_database_url

from baas.config import (
    ConfigError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_rate,
    env_secret,
    env_str,
    load_dotenv_file,
)

load_dotenv_file()

BASE_DIR = Path(__file__).resolve().parent.parent
BAAS_MODE = env_choice("BAAS_MODE", "dev", ("dev", "production"))
PRODUCTION = BAAS_MODE == "production"

# The data folder holds the SQLite database, local files, the embedded task queue and the dev
# secret key. It is created on demand so that importing settings never fails on a fresh machine.
BAAS_DATA_DIR = Path(env_str("BAAS_DATA_DIR", ".baas")).expanduser().resolve()


def _data_path(*parts: str) -> Path:
    path = BAAS_DATA_DIR.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _dev_secret_key() -> str:
    """A random key kept in the data folder, so that sessions survive a restart of `baas dev`."""
    key_file = _data_path() / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY") or ("" if PRODUCTION else _dev_secret_key())
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
REDIS_URL = env_str("REDIS_URL")

if PRODUCTION:
    if not SECRET_KEY or len(SECRET_KEY) < 32 or SECRET_KEY.startswith("change-me"):
        raise ConfigError("BAAS_MODE=production needs SECRET_KEY (or SECRET_KEY_FILE): 32+ random characters")
    if DEBUG:
        raise ConfigError("BAAS_MODE=production refuses DEBUG=true: it would expose internals")
    if not ALLOWED_HOSTS:
        raise ConfigError("BAAS_MODE=production needs ALLOWED_HOSTS (comma-separated host names)")
    if not REDIS_URL:
        raise ConfigError("BAAS_MODE=production needs REDIS_URL (cache, rate limits, realtime between processes)")

# --- browsers: CORS (django-cors-headers) and the websocket's Origin check (baas/origins.py) --------
# CORS_ALLOWED_ORIGINS: comma-separated origins (scheme://host[:port]), or "*" for any origin.
# Unset in dev: any http(s) origin on localhost, 127.0.0.1 or [::1], any port. Unset in production:
# none (same-origin only). "*" in production needs CORS_ALLOW_ANY_ORIGIN_IN_PRODUCTION=true.
_cors_origins = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_ALLOW_ALL_ORIGINS = "*" in _cors_origins
CORS_ALLOWED_ORIGINS = [origin.rstrip("/") for origin in _cors_origins if origin != "*"]
for _origin in CORS_ALLOWED_ORIGINS:
    if _origin != "null" and not re.fullmatch(r"https?://[^/?#\s]+", _origin):
        raise ConfigError(f"CORS_ALLOWED_ORIGINS: {_origin!r} is not an origin like https://app.example.com[:port]")
CORS_ALLOWED_ORIGIN_REGEXES = (
    [] if _cors_origins or PRODUCTION else [r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?$"]
)
CORS_ALLOW_ANY_ORIGIN_IN_PRODUCTION = env_bool("CORS_ALLOW_ANY_ORIGIN_IN_PRODUCTION", False)
if PRODUCTION and CORS_ALLOW_ALL_ORIGINS and not CORS_ALLOW_ANY_ORIGIN_IN_PRODUCTION:
    raise ConfigError(
        "BAAS_MODE=production refuses CORS_ALLOWED_ORIGINS=*: any web site could call the API from its"
        " users' browsers. List your apps' origins, or set CORS_ALLOW_ANY_ORIGIN_IN_PRODUCTION=true"
    )
CORS_URLS_REGEX = r"^/v1/"
CORS_ALLOW_CREDENTIALS = False  # the API takes bearer tokens, not cookies, from other origins
CORS_ALLOW_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "range",
    "idempotency-key",
    "x-baas-metadata",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = (
    "etag",
    "location",
    "x-request-id",
    "retry-after",
    "content-range",
    "content-length",
    "accept-ranges",
    "idempotent-replayed",
)
CORS_PREFLIGHT_MAX_AGE = env_int("CORS_PREFLIGHT_MAX_AGE", 3600, minimum=0)

# --- idempotency keys (baas/idempotency.py) --------------------------------------------------------
BAAS_IDEMPOTENCY_TTL_SECONDS = env_int("BAAS_IDEMPOTENCY_TTL_SECONDS", 24 * 3600, minimum=60)
# How long a request holds its key while it runs; a key left by a crashed request frees after it.
BAAS_IDEMPOTENCY_LOCK_SECONDS = env_int("BAAS_IDEMPOTENCY_LOCK_SECONDS", 300, minimum=1)
# Finds the caller of a request with bearer credentials (None without them): keys are per caller.
BAAS_IDEMPOTENCY_PRINCIPAL = "auth.authentication.bearer_principal"
# Headers of a first answer that a replay repeats (the last one: a sync invoke's hand-off, so a
# replay awaits the same invocation — functions/api/awaiting.py).
BAAS_IDEMPOTENCY_REPLAYED_HEADERS = ("ETag", "Location", "Content-Type", "X-Baas-Await-Invocation")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "baas",
    "auth.apps.AuthConfig",
    "documents",
    "storage",
    "realtime",
    "functions",
    "webhooks",
    "console",
]

MIDDLEWARE = [
    "baas.middleware.ClientAddressMiddleware",  # first: REMOTE_ADDR is the client from here on
    "baas.middleware.RequestContextMiddleware",
    # Before anything that reads a body, authenticates or counts: a preflight is answered here.
    "baas.origins.CorsMiddleware",  # django-cors-headers'
    "baas.middleware.BodySizeLimitMiddleware",
    "baas.middleware.ErrorShapeMiddleware",
    "baas.parsers.RefuseNulMiddleware",  # NUL in path, query or headers: 400 (baas.jsonvalues' policy)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Runs BAAS_BROWSER_MIDDLEWARE, except for bearer-authenticated calls to BAAS_BEARER_API_PREFIXES.
    "baas.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "baas.idempotency.IdempotencyMiddleware",  # last: it wraps the view and every check before it
]
BAAS_BROWSER_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",  # the console's "done" notices
]
# Paths served only by DRF views with the default authentication classes (see BrowserSessionMiddleware).
BAAS_BEARER_API_PREFIXES = ("/v1/db/", "/v1/auth/user", "/v1/storage/objects/")

ROOT_URLCONF = "baas.urls"
WSGI_APPLICATION = "baas.wsgi.application"
ASGI_APPLICATION = "baas.asgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- database -----------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
# WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so two
# writers queue on the busy timeout instead of failing with "database is locked".
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
            # A SELECT 1 round trip on the first query of every request, so that a connection broken
            # by a database restart fails no request; off saves it (docs/serving.md).
            conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
        )
    }
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "baas.dbbackend"  # Django's, with a rate-limited health check
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_data_path() / "baas.sqlite3"),
            "OPTIONS": dict(SQLITE_OPTIONS),
            # Kept open like DATABASE_URL's: a new SQLite connection costs ~1.5 ms (WAL pragma), and
            # a Celery worker would otherwise reconnect twice per task (functions: issue #9 latency).
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        }
    }
# The statements every request runs are prepared once per connection (baas/dbbackend/base.py). Off
# for a pooler in transaction mode that cannot keep prepared statements (PgBouncer < 1.21).
BAAS_DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
# Seconds between two health checks of one connection (baas/dbbackend/base.py); 0 = every request.
BAAS_DB_HEALTH_CHECK_INTERVAL = env_int("DB_CONN_HEALTH_CHECK_MS", 1000, minimum=0) / 1000
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache and channel layer --------------------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "baas"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub: one Redis connection per process, no polling per consumer (the list-based
            # layer timed out its shared BZPOPMIN under a few thousand consumers).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNEL_PREFIX", "baas")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- object storage -----------------------------------------------------------------------------
# STORAGE_URL: file:///absolute/folder (default: <data>/files) or s3://bucket-name with the S3_*
# settings below (any S3-compatible server).
STORAGE_URL = env_str("STORAGE_URL") or (_data_path("files").as_uri())


def _object_storage(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": parsed.path},
        }
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError("STORAGE_URL=s3://… needs a bucket name, e.g. s3://baas-objects")
        query = parse_qs(parsed.query)
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": parsed.netloc,
                "location": parsed.path.strip("/"),
                "endpoint_url": env_str("S3_ENDPOINT_URL", query.get("endpoint_url", [None])[0]),
                "region_name": env_str("S3_REGION", "us-east-1"),
                "access_key": env_secret("S3_ACCESS_KEY_ID"),
                "secret_key": env_secret("S3_SECRET_ACCESS_KEY"),
                "addressing_style": env_choice("S3_ADDRESSING_STYLE", "path", ("path", "virtual", "auto")),
                "file_overwrite": True,
                "default_acl": None,
                "querystring_auth": True,
            },
        }
    raise ConfigError(f"STORAGE_URL must start with file:// or s3://, not {url!r}")


STORAGES = {
    "default": _object_storage(STORAGE_URL),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_URL = "/static/"
STATIC_ROOT = str(_data_path("static"))
# Serve app static files (the offline API docs) straight from the installed packages: no
# collectstatic step for a newcomer.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False

# --- requests, auth, API --------------------------------------------------------------------------
BAAS_MAX_BODY_BYTES = env_int("BAAS_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = BAAS_MAX_BODY_BYTES
# Paths whose views stream their own bodies and enforce their own limits (object uploads,
# function bundles); the generic limit does not apply to them.
# Object uploads stream (their bucket's and STORAGE_MAX_OBJECT_BYTES limits apply): the API's and
# the console's (console/pages/storage.py, staff only, CSRF-checked before a byte is read).
BAAS_BODY_LIMIT_EXEMPT_PREFIXES = ("/v1/storage/objects/", "/console/storage/upload/")

AUTH_USER_MODEL = "baas_auth.User"
# argon2id cost (auth/hashers.py): OWASP's m=19 MiB, t=2, p=1 by default.
AUTH_ARGON2_TIME_COST = env_int("AUTH_ARGON2_TIME_COST", 2, minimum=1)
AUTH_ARGON2_MEMORY_KIB = env_int("AUTH_ARGON2_MEMORY_KIB", 19 * 1024, minimum=8 * 1024)
AUTH_ARGON2_PARALLELISM = env_int("AUTH_ARGON2_PARALLELISM", 1, minimum=1)
PASSWORD_HASHERS = [
    "auth.hashers.BaasArgon2PasswordHasher",  # same "argon2" algorithm name: verifies Django's too
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "auth.authentication.ServiceKeyAuthentication",
        "auth.authentication.JWTAuthentication",
        "auth.authentication.UnknownBearerAuthentication",
        "auth.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["baas.parsers.StrictJSONParser"],  # JSON under baas.jsonvalues' policy
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "baas.errors.drf_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "baas API",
    "DESCRIPTION": "Auth, documents, storage, realtime and functions. Errors always use "
    '{"error": {"code", "message", "details"}}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "baas.openapi.add_error_responses",  # the error envelope on every operation
    ],
}

# --- documents ------------------------------------------------------------------------------------
BAAS_DOCUMENT_MAX_BYTES = env_int("BAAS_DOCUMENT_MAX_BYTES", 1024 * 1024, minimum=1024)
BAAS_DOCUMENT_MAX_DEPTH = env_int("BAAS_DOCUMENT_MAX_DEPTH", 32, minimum=2)
BAAS_BATCH_MAX_OPS = env_int("BAAS_BATCH_MAX_OPS", 500, minimum=1)

# --- realtime -------------------------------------------------------------------------------------
BAAS_REALTIME_MAX_SUBSCRIPTIONS = env_int("BAAS_REALTIME_MAX_SUBSCRIPTIONS", 100, minimum=1)
BAAS_REALTIME_MAX_MESSAGE_BYTES = env_int("BAAS_REALTIME_MAX_MESSAGE_BYTES", 64 * 1024, minimum=1024)
BAAS_REALTIME_OUTBOX = env_int("BAAS_REALTIME_OUTBOX", 1000, minimum=10)  # queued messages per connection
BAAS_REALTIME_OUTBOX_BYTES = env_int("BAAS_REALTIME_OUTBOX_BYTES", 8 * 1024 * 1024, minimum=64 * 1024)
BAAS_REALTIME_RATE = env_int("BAAS_REALTIME_RATE", 50, minimum=1)  # client messages a second
BAAS_REALTIME_IDLE_SECONDS = env_int("BAAS_REALTIME_IDLE_SECONDS", 120, minimum=5)
BAAS_REALTIME_SNAPSHOT_LIMIT = env_int("BAAS_REALTIME_SNAPSHOT_LIMIT", 1000, minimum=1)
# A presence entry whose connection (or process) stopped refreshing it vanishes after this long.
BAAS_PRESENCE_TTL_SECONDS = env_int("BAAS_PRESENCE_TTL_SECONDS", 30, minimum=3)

# --- event log ------------------------------------------------------------------------------------
BAAS_EVENT_RETENTION_SECONDS = env_int("BAAS_EVENT_RETENTION_SECONDS", 7 * 24 * 3600, minimum=60)
BAAS_EVENT_RETENTION_COUNT = env_int("BAAS_EVENT_RETENTION_COUNT", 1_000_000, minimum=1000)
# How often SQLite readers look for events committed by other processes.
BAAS_EVENT_POLL_SECONDS = env_int("BAAS_EVENT_POLL_MS", 250, minimum=10) / 1000

# --- Celery ---------------------------------------------------------------------------------------
# The embedded default is a folder queue (baas/queue.py: kombu's filesystem transport with atomic
# writes) under the data folder; production uses redis:// or amqp://.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "baasfs://localhost/")
if CELERY_BROKER_URL.startswith(("baasfs://", "filesystem://")):
    _queue_dir = str(_data_path("queue", "messages"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _queue_dir,
        "data_folder_out": _queue_dir,
        "processed_folder": str(_data_path("queue", "processed")),
        "control_folder": str(_data_path("queue", "control")),
        "store_processed": False,
        # Workers look for new messages this often: it bounds the queue's share of a task's latency.
        "polling_interval": env_int("BAAS_QUEUE_POLL_MS", 10, minimum=1) / 1000,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection before and after each task unless this is
# set, and then only every this many tasks: a worker would open a new PostgreSQL connection (a
# backend forked, authenticated, its caches cold) per message. Connections instead live as the web
# process's do, by DB_CONN_MAX_AGE, and are dropped when unusable (baas/celery.py).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "prune-event-log": {"task": "baas.tasks.prune_event_log", "schedule": 15 * 60},
    "purge-idempotency-keys": {"task": "baas.tasks.purge_idempotency_keys", "schedule": 15 * 60},
}
DJANGO_CELERY_BEAT_TZ_AWARE = True
# SQLite only: the `synchronous` pragma of a worker's connections. NORMAL (WAL) makes a commit cost
# ~0.02 ms instead of an fsync (~3.4 ms here), and a worker makes three commits per invocation.
# A crashed or killed process loses nothing; a power loss may lose the newest commits, always a
# suffix of the log, and what the worker lost that way is run again (at least once). FULL restores
# fsync on every commit. See docs/functions.md, "Delivery".
BAAS_WORKER_SQLITE_SYNCHRONOUS = env_choice("BAAS_WORKER_SQLITE_SYNCHRONOUS", "NORMAL", ("NORMAL", "FULL", "EXTRA"))

# --- time, logging --------------------------------------------------------------------------------
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False

LOG_FORMAT = env_choice("LOG_FORMAT", "json" if PRODUCTION else "text", ("json", "text"))
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "baas.logs.RequestIdFilter"},
        "redact": {"()": "baas.logs.RedactSecretsFilter"},
        "routine": {"()": "baas.logs.QuietRoutineTasksFilter"},
    },
    "formatters": {
        "json": {"()": "baas.logs.JsonFormatter"},
        "text": {"()": "baas.logs.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["routine", "request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django logs every 4xx as a warning; our access log already records them.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
    },
}

# --- security headers in production ---------------------------------------------------------------
if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- auth ---
# Sessions, email and abuse limits of the auth service; the design is in docs/auth.md.
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    # A separate key lets operators rotate JWT signing without touching Django's SECRET_KEY.
    "SIGNING_KEY": env_secret("JWT_SIGNING_KEY") or SECRET_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_int("AUTH_ACCESS_TOKEN_SECONDS", 15 * 60, minimum=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env_int("AUTH_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600, minimum=300)),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "typ",
    "JTI_CLAIM": "jti",
    "ISSUER": env_str("AUTH_JWT_ISSUER", "baas"),
    "LEEWAY": 0,
    "UPDATE_LAST_LOGIN": False,
}
# A refresh token rotated less than this many seconds ago may be presented once more (two requests
# of one app racing) without counting as reuse. 0 = strict: any reuse revokes the session.
AUTH_REFRESH_REUSE_GRACE_SECONDS = env_int("AUTH_REFRESH_REUSE_GRACE_SECONDS", 0, minimum=0)
AUTH_VERIFY_TOKEN_SECONDS = env_int("AUTH_VERIFY_TOKEN_SECONDS", 24 * 3600, minimum=60)
AUTH_RECOVER_TOKEN_SECONDS = env_int("AUTH_RECOVER_TOKEN_SECONDS", 3600, minimum=60)
# Links in emails: `{token}` is replaced by the one-time token. Unset: the email carries the token.
AUTH_VERIFY_URL = env_str("AUTH_VERIFY_URL")
AUTH_RECOVER_URL = env_str("AUTH_RECOVER_URL")
# How many reverse proxies in front of baas append to X-Forwarded-For (0 = use the peer address).
AUTH_TRUSTED_PROXY_COUNT = env_int("AUTH_TRUSTED_PROXY_COUNT", 0, minimum=0)
# Proxies whose X-Forwarded-For/-Proto are believed: addresses or CIDR networks, never "*"
# (baas/client_address.py, docs/serving.md).
BAAS_TRUSTED_PROXIES = env_list("FORWARDED_ALLOW_IPS", ["127.0.0.1", "::1"])
AUTH_USER_DATA_MAX_BYTES = env_int("AUTH_USER_DATA_MAX_BYTES", 16 * 1024, minimum=256)

# (count, seconds) per client address ("ip") and per account ("account": the email, or the session
# for refresh).
AUTH_RATE_LIMITS = {
    "signup:ip": env_rate("AUTH_RATE_SIGNUP_IP", "20/h"),
    "signup:account": env_rate("AUTH_RATE_SIGNUP_ACCOUNT", "5/h"),
    "anonymous:ip": env_rate("AUTH_RATE_ANONYMOUS_IP", "30/h"),
    "token:ip": env_rate("AUTH_RATE_TOKEN_IP", "60/m"),
    "token:account": env_rate("AUTH_RATE_TOKEN_ACCOUNT", "20/m"),
    "refresh:ip": env_rate("AUTH_RATE_REFRESH_IP", "300/m"),
    "refresh:account": env_rate("AUTH_RATE_REFRESH_ACCOUNT", "30/m"),
    "recover:ip": env_rate("AUTH_RATE_RECOVER_IP", "10/h"),
    "recover:account": env_rate("AUTH_RATE_RECOVER_ACCOUNT", "3/h"),
    "verify:ip": env_rate("AUTH_RATE_VERIFY_IP", "30/h"),
    "verify:account": env_rate("AUTH_RATE_VERIFY_ACCOUNT", "5/h"),
    # PATCH /v1/auth/user with a new email: per address, per user, and per target address.
    "email_change:ip": env_rate("AUTH_RATE_EMAIL_CHANGE_IP", "10/h"),
    "email_change:account": env_rate("AUTH_RATE_EMAIL_CHANGE_ACCOUNT", "5/h"),
    "email_change_target:account": env_rate("AUTH_RATE_EMAIL_CHANGE_TARGET", "5/h"),
}
# Failed logins: this many for one account from one address within the window locks that address
# out of that account; the account-wide threshold (any address) locks the account. Locks last
# AUTH_LOCKOUT_SECONDS, are not extended by attempts made while locked, and a password reset
# lifts them.
AUTH_LOCKOUT_WINDOW_SECONDS = env_int("AUTH_LOCKOUT_WINDOW_SECONDS", 15 * 60, minimum=1)
AUTH_LOCKOUT_SECONDS = env_int("AUTH_LOCKOUT_SECONDS", 15 * 60, minimum=1)
AUTH_LOCKOUT_ADDRESS_THRESHOLD = env_int("AUTH_LOCKOUT_ADDRESS_THRESHOLD", 5, minimum=1)
AUTH_LOCKOUT_ACCOUNT_THRESHOLD = env_int("AUTH_LOCKOUT_ACCOUNT_THRESHOLD", 20, minimum=1)

# Email: console in dev; SMTP when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "") or ""
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "") or ""
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "baas <no-reply@localhost>")
# Send auth emails from a background thread after commit, so that the answer's timing does not
# reveal whether an email went out (recover, signup). Inline in dev to keep things debuggable.
# true (the default): auth emails are tasks on the Celery queue (the folder queue in dev), retried
# with exponential backoff, so they survive a web restart; false: sent inline after commit.
AUTH_EMAIL_IN_BACKGROUND = env_bool("AUTH_EMAIL_IN_BACKGROUND", True)
AUTH_EMAIL_RETRY_BACKOFF_SECONDS = env_int("AUTH_EMAIL_RETRY_BACKOFF_SECONDS", 5, minimum=1)
AUTH_EMAIL_MAX_RETRIES = env_int("AUTH_EMAIL_MAX_RETRIES", 10, minimum=0)
# How long an email-change link works (the new address takes effect only when it is followed).
AUTH_EMAIL_CHANGE_TOKEN_SECONDS = env_int("AUTH_EMAIL_CHANGE_TOKEN_SECONDS", 24 * 3600, minimum=60)

# --- storage ---
# Object storage limits, signed URLs and the orphan sweep; the design is in docs/storage.md.
STORAGE_MAX_OBJECT_BYTES = env_int("STORAGE_MAX_OBJECT_BYTES", 5 * 1024**3, minimum=1)
STORAGE_SIGNED_URL_DEFAULT_SECONDS = env_int("STORAGE_SIGNED_URL_DEFAULT_SECONDS", 3600, minimum=1)
STORAGE_SIGNED_URL_MAX_SECONDS = env_int("STORAGE_SIGNED_URL_MAX_SECONDS", 7 * 24 * 3600, minimum=1)
# Origin put in front of signed URLs made without a request (by functions); unset = relative URLs.
STORAGE_PUBLIC_URL = env_str("STORAGE_PUBLIC_URL")
# With the S3 backend, answer a signed-URL download with a redirect to an S3 presigned URL.
STORAGE_S3_REDIRECT_SIGNED = env_bool("STORAGE_S3_REDIRECT_SIGNED", False)
# Bytes of an upload that never committed are swept once they are this old.
STORAGE_ORPHAN_GRACE_SECONDS = env_int("STORAGE_ORPHAN_GRACE_SECONDS", 6 * 3600, minimum=60)
CELERY_BEAT_SCHEDULE["storage-sweep-orphans"] = {
    "task": "storage.tasks.sweep_orphans",
    "schedule": env_int("STORAGE_SWEEP_SECONDS", 600, minimum=10),
}

# --- functions ---
# Sandboxes, limits and warm pools of the functions service; the design is in docs/functions.md.
# BAAS_SANDBOX: bubblewrap (required in production) | unsafe-local (no isolation, dev only, loopback
# only, never a fallback) | auto (dev default: bubblewrap when a probe starts a sandbox; otherwise
# functions refuse with 503 sandbox_unavailable — functions/sandbox/__init__.py).
BAAS_SANDBOX = env_choice(
    "BAAS_SANDBOX", "bubblewrap" if PRODUCTION else "auto", ("bubblewrap", "unsafe-local", "auto")
)
if PRODUCTION and BAAS_SANDBOX != "bubblewrap":
    raise ConfigError("BAAS_MODE=production requires BAAS_SANDBOX=bubblewrap: functions must be isolated")
FUNCTIONS_BWRAP = env_str("FUNCTIONS_BWRAP", "/usr/bin/bwrap")
# The interpreter inside the sandbox: the system's real one (not a pyenv shim, not under /root).
FUNCTIONS_PYTHON = env_str("FUNCTIONS_PYTHON", "/usr/bin/python3")
FUNCTIONS_SANDBOX_UID = env_int("FUNCTIONS_SANDBOX_UID", 65534, minimum=1)
FUNCTIONS_SANDBOX_DIR = env_str("FUNCTIONS_SANDBOX_DIR")  # default: <data>/sandbox if reachable
FUNCTIONS_SANDBOX_CGROUPS = env_bool("FUNCTIONS_SANDBOX_CGROUPS", True)  # v1 pids/memory if writable
FUNCTIONS_SECRETS_KEY = env_secret("FUNCTIONS_SECRETS_KEY")  # default: derived from SECRET_KEY
# Older keys still accepted after a rotation (comma-separated; also SECRET_KEY_FALLBACKS_FILE):
# Django's signing, signed URLs and function secrets (functions/secrets.py) read them.
SECRET_KEY_FALLBACKS = [key.strip() for key in (env_secret("SECRET_KEY_FALLBACKS") or "").split(",") if key.strip()]
FUNCTIONS_DEFAULT_TIMEOUT = env_int("FUNCTIONS_DEFAULT_TIMEOUT", 10, minimum=1)
FUNCTIONS_MAX_TIMEOUT = env_int("FUNCTIONS_MAX_TIMEOUT", 300, minimum=1)
FUNCTIONS_DEFAULT_MEMORY_MB = env_int("FUNCTIONS_DEFAULT_MEMORY_MB", 256, minimum=64)
FUNCTIONS_MAX_MEMORY_MB = env_int("FUNCTIONS_MAX_MEMORY_MB", 2048, minimum=64)
FUNCTIONS_LOAD_TIMEOUT = env_int("FUNCTIONS_LOAD_TIMEOUT", 10, minimum=1)
FUNCTIONS_MAX_PROCESSES = env_int("FUNCTIONS_MAX_PROCESSES", 32, minimum=2)
FUNCTIONS_MAX_OPEN_FILES = env_int("FUNCTIONS_MAX_OPEN_FILES", 256, minimum=16)
FUNCTIONS_MAX_FILE_BYTES = env_int("FUNCTIONS_MAX_FILE_BYTES", 16 * 1024 * 1024, minimum=1024)
FUNCTIONS_TMP_BYTES = env_int("FUNCTIONS_TMP_BYTES", 32 * 1024 * 1024, minimum=1024 * 1024)
FUNCTIONS_LIFETIME_CPU_SECONDS = env_int("FUNCTIONS_LIFETIME_CPU_SECONDS", 3600, minimum=10)
FUNCTIONS_LOG_BYTES = env_int("FUNCTIONS_LOG_BYTES", 64 * 1024, minimum=1024)
FUNCTIONS_OUTPUT_KILL_BYTES = env_int("FUNCTIONS_OUTPUT_KILL_BYTES", 8 * 1024 * 1024, minimum=64 * 1024)
FUNCTIONS_BUNDLE_MAX_BYTES = env_int("FUNCTIONS_BUNDLE_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES = env_int("FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES", 20 * 1024 * 1024, minimum=1024)
FUNCTIONS_BUNDLE_MAX_FILES = env_int("FUNCTIONS_BUNDLE_MAX_FILES", 1000, minimum=1)
# Warm sandboxes per worker process, how long one may sit idle, and how many invocations it serves.
FUNCTIONS_POOL_SIZE = env_int("FUNCTIONS_POOL_SIZE", 8, minimum=0)
FUNCTIONS_POOL_IDLE_SECONDS = env_int("FUNCTIONS_POOL_IDLE_SECONDS", 300, minimum=1)
FUNCTIONS_POOL_MAX_USES = env_int("FUNCTIONS_POOL_MAX_USES", 1000, minimum=1)
FUNCTIONS_ZYGOTES = env_int("FUNCTIONS_ZYGOTES", 1, minimum=0)  # pre-started sandboxes per process
FUNCTIONS_BUNDLE_KEEP_VERSIONS = env_int("FUNCTIONS_BUNDLE_KEEP_VERSIONS", 3, minimum=1)  # unpacked per function
# How long a synchronous HTTP invoke may wait for a free worker on top of the function's timeout.
FUNCTIONS_INVOKE_QUEUE_GRACE_SECONDS = env_int("FUNCTIONS_INVOKE_QUEUE_GRACE_SECONDS", 5, minimum=0)
# Requests to /v1/functions/{name}/http/…: the largest body passed to the handler (413 beyond), and
# the largest body a handler's answer may have (a larger one fails the invocation: invalid_response).
FUNCTIONS_HTTP_BODY_MAX_BYTES = env_int("FUNCTIONS_HTTP_BODY_MAX_BYTES", 1024 * 1024, minimum=1024)
FUNCTIONS_HTTP_RESPONSE_MAX_BYTES = env_int("FUNCTIONS_HTTP_RESPONSE_MAX_BYTES", 6 * 1024 * 1024, minimum=1024)

# --- functions II ---
# Triggers, delivery, retries, quotas and schedules of functions; the design is in docs/functions.md.
# A causation chain deeper than this (function writes triggering functions) stops with loop_detected.
FUNCTIONS_MAX_DEPTH = env_int("FUNCTIONS_MAX_DEPTH", 8, minimum=1)
# Retries of event and schedule invocations: exponential backoff from the base, capped, with jitter.
FUNCTIONS_RETRY_BASE_MS = env_int("FUNCTIONS_RETRY_BASE_MS", 1000, minimum=1)
FUNCTIONS_RETRY_MAX_SECONDS = env_int("FUNCTIONS_RETRY_MAX_SECONDS", 600, minimum=1)
# Per-function defaults, overridable per deploy (`concurrency`, `rate_per_minute`); 0 = no limit.
FUNCTIONS_DEFAULT_CONCURRENCY = env_int("FUNCTIONS_DEFAULT_CONCURRENCY", 16, minimum=0)
FUNCTIONS_DEFAULT_RATE_PER_MINUTE = env_int("FUNCTIONS_DEFAULT_RATE_PER_MINUTE", 0, minimum=0)
# The sweep: a queued invocation whose message is this old is sent again; a running one is presumed
# lost this long after its timeout; a run lost with its worker is re-run up to this many attempts.
FUNCTIONS_REQUEUE_SECONDS = env_int("FUNCTIONS_REQUEUE_SECONDS", 30, minimum=1)
FUNCTIONS_RUNNING_GRACE_SECONDS = env_int("FUNCTIONS_RUNNING_GRACE_SECONDS", 30, minimum=1)
FUNCTIONS_WORKER_LOST_ATTEMPTS = env_int("FUNCTIONS_WORKER_LOST_ATTEMPTS", 3, minimum=1)
FUNCTIONS_DISPATCH_BATCH = env_int("FUNCTIONS_DISPATCH_BATCH", 500, minimum=1)
# Invocations per worker message under a backlog (functions/sending.py), and how many messages a
# batch is spread over at least, so that a few slow invocations do not queue behind one worker.
FUNCTIONS_RUN_BATCH = env_int("FUNCTIONS_RUN_BATCH", 25, minimum=1)
FUNCTIONS_RUN_SPREAD = env_int("FUNCTIONS_RUN_SPREAD", 8, minimum=1)
# A worker claims up to this many invocations of one function at once and records their successes
# together (functions/runner.py, run_invocations).
FUNCTIONS_CLAIM_BATCH = env_int("FUNCTIONS_CLAIM_BATCH", 8, minimum=1)
# Host folders (Python packages) importable inside the sandbox, each bound read-only at
# /opt/site/<name>. Default: Debian's python3-pil (Pillow), when installed (scripts/bootstrap).
FUNCTIONS_SANDBOX_PACKAGES = env_list(
    "FUNCTIONS_SANDBOX_PACKAGES",
    [p for p in ("/usr/lib/python3/dist-packages/PIL",) if Path(p).is_dir()],
)
# Networks (CIDR) `network: "egress"` functions may reach beyond the public internet (docs/functions.md).
FUNCTIONS_EGRESS_ALLOW = env_list("FUNCTIONS_EGRESS_ALLOW", [])
for _network in FUNCTIONS_EGRESS_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ConfigError(f"FUNCTIONS_EGRESS_ALLOW: {_network!r} is not a network (CIDR)") from None
# Package registries a TypeScript function's dependencies (npm:, jsr:) are resolved from at deploy,
# by a build step in the sandbox that may reach only these hosts (functions/dependencies.py). A URL
# prefixed `jsr=` (or on jsr.io) is the JSR registry, the first other one the npm registry; more
# entries only add hosts (e.g. where a registry serves its tarballs). Operator-configured, so they
# may be private or loopback addresses (function code's egress still may not reach those).
FUNCTIONS_PACKAGE_REGISTRIES = env_list(
    "FUNCTIONS_PACKAGE_REGISTRIES", ["https://registry.npmjs.org/", "https://jsr.io/"]
)
for _registry in FUNCTIONS_PACKAGE_REGISTRIES:
    if not re.match(r"^(?:(?:npm|jsr)=)?https?://[^/\s]+", _registry):
        raise ConfigError(f"FUNCTIONS_PACKAGE_REGISTRIES: {_registry!r} is not an http(s) URL")
# The resolved dependencies of one version (its Deno cache, unpacked), at most: 400 beyond.
FUNCTIONS_DEPENDENCIES_MAX_BYTES = env_int("FUNCTIONS_DEPENDENCIES_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# Each worker's main process tails the event log and dispatches new events (PostgreSQL: LISTEN;
# SQLite: a poll this often); beat's tick dispatches too and runs the sweep every FUNCTIONS_TICK_SECONDS.
FUNCTIONS_DISPATCH_IN_WORKER = env_bool("FUNCTIONS_DISPATCH_IN_WORKER", True)
FUNCTIONS_DISPATCH_POLL_MS = env_int("FUNCTIONS_DISPATCH_POLL_MS", 5, minimum=1)
# Under a stream of events a tailer dispatches at most once per this many ms, taking everything that
# committed meanwhile in one go (functions/tailer.py); an event after a quiet spell goes at once.
FUNCTIONS_DISPATCH_COALESCE_MS = env_int("FUNCTIONS_DISPATCH_COALESCE_MS", 20, minimum=0)
FUNCTIONS_TICK_SECONDS = env_int("FUNCTIONS_TICK_SECONDS", 1, minimum=1)
CELERY_BEAT_SCHEDULE["functions-tick"] = {"task": "functions.tick", "schedule": FUNCTIONS_TICK_SECONDS}

# --- outgoing webhooks (docs/webhooks.md) ---
# Plain http:// endpoints: for development and tests only (a delivery's body and signature travel
# unencrypted).
WEBHOOKS_ALLOW_HTTP = env_bool("WEBHOOKS_ALLOW_HTTP", False)
# Networks (CIDR) webhooks may be sent to beyond the public internet (loopback, private ranges…).
WEBHOOKS_EGRESS_ALLOW = env_list("WEBHOOKS_EGRESS_ALLOW", [])
for _network in WEBHOOKS_EGRESS_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ConfigError(f"WEBHOOKS_EGRESS_ALLOW: {_network!r} is not a network (CIDR)") from None
WEBHOOKS_TIMEOUT_SECONDS = env_int("WEBHOOKS_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOKS_RESPONSE_BYTES = env_int("WEBHOOKS_RESPONSE_BYTES", 1024, minimum=0)  # of each answer, kept
WEBHOOKS_DEFAULT_MAX_RETRIES = env_int("WEBHOOKS_DEFAULT_MAX_RETRIES", 8, minimum=0)
WEBHOOKS_MAX_RETRIES_LIMIT = env_int("WEBHOOKS_MAX_RETRIES_LIMIT", 30, minimum=0)
WEBHOOKS_SECRET_GRACE_SECONDS = env_int("WEBHOOKS_SECRET_GRACE_SECONDS", 24 * 3600, minimum=0)
CELERY_BEAT_SCHEDULE["webhooks-tick"] = {"task": "webhooks.tick", "schedule": FUNCTIONS_TICK_SECONDS}
