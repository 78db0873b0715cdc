"""pocketdesk settings: read from the environment only (README lists every variable)."""

import os
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP  # type: ignore[import-not-found,unused-ignore]
from django.utils.translation import gettext_lazy as _

from pocketdesk.messaging.vapid import vapid_keys_settings

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("PD_VAR_DIR", PROJECT_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# production (default), demo (make demo) or test (make test).
PD_MODE = os.environ.get("PD_MODE", "production")
if PD_MODE not in {"production", "demo", "test"}:
    raise ImproperlyConfigured(f"PD_MODE must be production, demo or test, not {PD_MODE!r}")
RELAXED = PD_MODE in {"demo", "test"}

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not RELAXED:
        raise ImproperlyConfigured(
            "SECRET_KEY is required in production (set PD_MODE=demo for the demo)."
        )
    SECRET_KEY = "pocketdesk-insecure-" + PD_MODE

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if RELAXED else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "axes",
    "channels",
    "django_tasks_db",
    "pocketdesk.core",
    "pocketdesk.accounts",
    "pocketdesk.customers",
    "pocketdesk.catalog",
    "pocketdesk.messaging",
    "pocketdesk.conversations",
    "pocketdesk.links",
    "pocketdesk.notifications",
    "pocketdesk.web",
    "pocketdesk.demo",
]

MIDDLEWARE = [
    "pocketdesk.links.middleware.ScanFastPathMiddleware",
    "pocketdesk.messaging.middleware.WebhookFastPathMiddleware",
    "pocketdesk.core.middleware.ApiJsonErrorsMiddleware",
    "pocketdesk.core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pocketdesk.accounts.middleware.BearerTokenMiddleware",
    "pocketdesk.customers.middleware.PreferredLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pocketdesk.core.middleware.IdempotencyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pocketdesk.urls"
WSGI_APPLICATION = "pocketdesk.wsgi.application"
ASGI_APPLICATION = "pocketdesk.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pocketdesk.web.context_processors.site",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = os.environ.get(
    "DATABASE_URL", f"sqlite:///{VAR_DIR / f'pocketdesk-{PD_MODE}.sqlite3'}"
)
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE transactions take the write
    # lock up front so concurrent writers queue on busy_timeout instead of failing.
    _db["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 5,
    }
    if PD_MODE == "test":
        # A file, not memory, so the websocket and worker processes tests start see the data.
        _db["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: cache and channel layer -------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis blocks 5 s per receive poll; redis-py's default socket timeout is
            # also 5 s, which ended idle websocket consumers: give reads room.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if PD_MODE == "test":
        # One file per test run (like the test database); the servers a test starts inherit it.
        os.environ.setdefault(
            "PD_CHANNELS_FILE", str(VAR_DIR / f"channels-test-{os.getpid()}.sqlite3")
        )
    # One SQLite file carries websocket pushes between this machine's processes.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "pocketdesk.core.channel_layer.SQLiteChannelLayer",
            "CONFIG": {
                "path": os.environ.get(
                    "PD_CHANNELS_FILE", str(VAR_DIR / f"channels-{PD_MODE}.sqlite3")
                )
            },
        }
    }

# --- background tasks (django.tasks) -------------------------------------------
# "database" (default): django-tasks-db, worker `pocketdesk db_worker`.
# "redis": RQ through django-tasks-rq (needs REDIS_URL), worker `pocketdesk rqworker`.
PD_TASKS = os.environ.get("PD_TASKS", "database")
if PD_TASKS not in {"database", "redis"}:
    raise ImproperlyConfigured(f"PD_TASKS must be database or redis, not {PD_TASKS!r}")
if PD_TASKS == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("PD_TASKS=redis needs REDIS_URL")
TASKS = {
    "default": {
        "BACKEND": "django_tasks_rq.RQBackend"
        if PD_TASKS == "redis"
        else "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}
if REDIS_URL:
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600}}

# --- auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if PD_MODE == "test":
    # Argon2 at full cost makes every test login ~50 ms; tests check behaviour, not cost.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

AXES_FAILURE_LIMIT = int(os.environ.get("PD_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("PD_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HTTP_RESPONSE_CODE = 429
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
# Emails are case-insensitive: "Ada@…" and "ada@…" share one failure count.
AXES_USERNAME_CALLABLE = "pocketdesk.accounts.auth.login_username"
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
AXES_VERBOSE = False

# --- security -------------------------------------------------------------------
SECURE_HTTPS = env_bool("PD_HTTPS", not RELAXED)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if SECURE_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("PD_HSTS_SECONDS", "31536000"))
# Browsers may open websockets to the ASGI process (another port or host than the pages).
_ws = urlsplit(os.environ.get("PD_WS_URL", ""))
_ws_origin = [f"{_ws.scheme}://{_ws.netloc}"] if _ws.scheme in {"ws", "wss"} else []
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF, *_ws_origin],
    "manifest-src": [CSP.SELF],
    "worker-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# Requests bigger than this get 413 before any view reads them.
PD_MAX_BODY_BYTES = int(os.environ.get("PD_MAX_BODY_BYTES", str(1024 * 1024)))
# Inbound raw e-mail (/webhooks/email/…) carries attachments: its own, larger limit.
PD_MAX_EMAIL_BYTES = int(os.environ.get("PD_MAX_EMAIL_BYTES", str(25 * 1024 * 1024)))
# The middleware refuses oversized bodies per path before they are read.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(PD_MAX_BODY_BYTES, PD_MAX_EMAIL_BYTES)
PD_IDEMPOTENCY_TTL = timedelta(hours=24)

# --- i18n -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Region used to read phone numbers typed without a country code.
PD_DEFAULT_REGION = os.environ.get("PD_DEFAULT_REGION", "US")

# --- static files -------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("PD_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if PD_MODE == "test"
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = PD_MODE == "test"

# --- email (Django 6.1 MAILERS) ---------------------------------------------------------
_mail_backend = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if PD_MODE == "demo"
    else "django.core.mail.backends.smtp.EmailBackend",
)
_mail_options: dict[str, object] = {}
if _mail_backend.endswith("smtp.EmailBackend"):
    _mail_options = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT", "25")),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "timeout": 10,
    }
MAILERS = {"default": {"BACKEND": _mail_backend, "OPTIONS": _mail_options}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "pocketdesk <support@localhost>")

# --- serving ------------------------------------------------------------------------
# Browsers open websockets here; the ASGI process serves /ws/ (see README, "Serving").
PD_WS_URL = os.environ.get("PD_WS_URL", "")
PD_SITE_NAME = os.environ.get("PD_SITE_NAME", "pocketdesk")
# The public origin printed into QR codes and short links (no trailing slash).
PD_PUBLIC_URL = os.environ.get("PD_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Outbox: a send left "sending" longer than this was cut short by a crash; it is then checked
# with the provider before any retry. Keep it above the adapters' HTTP timeouts (15 s).
PD_SEND_TIMEOUT_SECONDS = float(os.environ.get("PD_SEND_TIMEOUT_SECONDS", "60"))

# --- conversations ----------------------------------------------------------------------
# Give each new (unassigned) conversation to the next available agent, round robin.
PD_AUTO_ASSIGN = env_bool("PD_AUTO_ASSIGN", False)
# The automated agent: when an unassigned open conversation is going badly, it sends the
# suggested callback offer or chat link itself (once a day a conversation at most).
PD_AUTO_OFFER = env_bool("PD_AUTO_OFFER", True)

# --- links ------------------------------------------------------------------------------
# Optional allow-list of link target domains (subdomains included); empty allows any.
PD_LINK_DOMAINS = [d.lower() for d in env_list("PD_LINK_DOMAINS")]
# Scans are written by a background thread in batches; tests flush explicitly instead.
PD_VISITS_IN_BACKGROUND = env_bool("PD_VISITS_IN_BACKGROUND", PD_MODE != "test")
PD_VISITS_FLUSH_SECONDS = float(os.environ.get("PD_VISITS_FLUSH_SECONDS", "1"))

# --- web push (VAPID) -------------------------------------------------------------------
# Without PD_VAPID_PRIVATE_KEY a production server has no web push channel; demo and test keep
# a pair made on first start in $PD_VAR_DIR/vapid-keys.json. The public key is derived.
PD_VAPID_SUBJECT = os.environ.get("PD_VAPID_SUBJECT") or "mailto:" + (
    parseaddr(DEFAULT_FROM_EMAIL)[1] or "support@localhost"
)
try:
    PD_VAPID_PRIVATE_KEY, PD_VAPID_PUBLIC_KEY = vapid_keys_settings(
        private_key=os.environ.get("PD_VAPID_PRIVATE_KEY", ""),
        public_key=os.environ.get("PD_VAPID_PUBLIC_KEY", ""),
        subject=PD_VAPID_SUBJECT,
        store=VAR_DIR / "vapid-keys.json" if RELAXED else None,
    )
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Every task run (sweeps every 5 s) and every provider request would fill the log at INFO;
    # failures still show.
    "loggers": {
        "axes": {"level": "WARNING"},
        "django_tasks_db": {"level": "WARNING"},
        "django_tasks": {"level": "WARNING"},
        "django.tasks": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

NINJA_PAGINATION_PER_PAGE = 50
NINJA_MAX_PER_PAGE_SIZE = 200
