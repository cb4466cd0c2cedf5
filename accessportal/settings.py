"""Settings for the vendor access portal, read from the environment.

Every variable is documented in `.env.example`. The defaults need no server at all: SQLite under
`var/`, a Celery broker in a folder, a local git repository as the Substrate repository and the
AWS emulator on loopback. Production is configuration only (see README, "Deploy").

A malformed or contradictory variable stops start-up with `ImproperlyConfigured` naming the
variable; `manage.py`, `wsgi.py` and `celery.py` print that message without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from accessportal.config import Config, owner_only_sqlite

BASE_DIR = Path(__file__).resolve().parent.parent
env_file = BASE_DIR / ".env"
if env_file.is_file():
    # Optional; variables already set in the real environment win.
    environ.Env.read_env(env_file)

cfg = Config()
VAR_DIR = cfg.path("PORTAL_VAR_DIR", default=BASE_DIR / "var")

# --- Core -------------------------------------------------------------------------------------
DEBUG = cfg.boolean("DJANGO_DEBUG", default=False)
SECRET_KEY = cfg.string("DJANGO_SECRET_KEY", default="insecure-local-only-change-me")
ALLOWED_HOSTS = cfg.strings("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = cfg.strings("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_ID = 1
PORTAL_BASE_URL = cfg.url("PORTAL_BASE_URL", default="http://127.0.0.1:8000")
PORTAL_ORGANIZATION_NAME = cfg.string("PORTAL_ORGANIZATION_NAME", default="Example Corp")

INSTALLED_APPS = [
    "accessportal.admin_site.PortalAdminConfig",  # django.contrib.admin, behind allauth and MFA
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "django_celery_beat",
    "django_celery_results",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # the API docs' Swagger UI, served from here (no CDN)
    # The portal's apps, lowest first: each imports only the ones above it in this list
    # (README "Architecture"; `make check` enforces it with import-linter).
    "accessportal",
    "audit",
    "eventstream",
    "vendors",
    "inventory",
    "approvals",
    "fulfilment",
    "keys",
    "notifications",
    "verification",
    "recertification",
    "reports",
    "api",
    "web",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "accessportal.middleware.AuditorsReadOnlyAdminMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accessportal.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "accessportal.urls"
WSGI_APPLICATION = "accessportal.wsgi.application"

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
                "accessportal.context_processors.portal",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {
    "default": cfg.database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite cannot create the folder of its file (a fresh clone has no var/ yet), and would
    # create the file world-readable: created here, owner-only (0600), with its folder.
    owner_only_sqlite(str(DATABASES["default"]["NAME"]))
    # The web server, the worker and beat share one file: wait for locks instead of failing,
    # and take the write lock up front so two writers never deadlock on an upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = cfg.integer("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Login lockouts and the key link's rate limit live in the cache, so every process must see the
# same one: a folder by default (the processes of `make run` share it), Redis in production.
CACHES = {"default": cfg.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

# --- Authentication (django-allauth) ----------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = cfg.choice(
    "ACCOUNT_EMAIL_VERIFICATION", choices=("none", "optional", "mandatory"), default="optional"
)
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_ADAPTER = "accessportal.adapters.PortalAccountAdapter"
SOCIALACCOUNT_ADAPTER = "web.sso.SsoSocialAccountAdapter"
# Self-service sign-up is off by default: people arrive through SSO or are created by an admin.
PORTAL_ALLOW_SIGNUP = cfg.boolean("PORTAL_ALLOW_SIGNUP", default=False)
# Login lockout: allauth counts failures per IP and per account in the cache.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_ADAPTER = "accessportal.adapters.PortalMFAAdapter"  # secrets encrypted at rest
MFA_TOTP_ISSUER = cfg.string("MFA_TOTP_ISSUER", default="Vendor access portal")
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = (
    False  # never merge an SSO login into a local account by e-mail
)
SOCIALACCOUNT_PROVIDERS = cfg.oidc_providers()
# Group membership from SSO (web/sso.py): the claim listing the person's groups
# at the identity provider, and which portal groups (roles, approver groups) each one gives.
# The groups the map names are managed: each SSO sign-in sets them to what the claim says.
PORTAL_SSO_GROUPS_CLAIM = cfg.string("PORTAL_SSO_GROUPS_CLAIM", default="groups")
PORTAL_SSO_GROUP_MAP = cfg.sso_group_map("PORTAL_SSO_GROUP_MAP")

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = cfg.string("PORTAL_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ----------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = cfg.path("DJANGO_STATIC_ROOT", default=VAR_DIR / "staticfiles")
MEDIA_ROOT = cfg.path("PORTAL_MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed file names need `collectstatic` (make run and the Dockerfile run it);
    # the unit tests render pages without it.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if cfg.boolean("PORTAL_STATIC_MANIFEST", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve straight from the source folders when collectstatic has not run (tests, first start).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security ---------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = cfg.boolean("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = cfg.integer("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = cfg.boolean("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = cfg.boolean("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# How many proxies that we run stand in front of gunicorn (the TLS proxy is one): the client's
# address is read that many entries from the right of X-Forwarded-For, for audit rows, login
# lockouts and rate limits alike (accessportal/client_ip.py; allauth asks the same function).
PORTAL_TRUSTED_PROXY_COUNT = cfg.integer("PORTAL_TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = PORTAL_TRUSTED_PROXY_COUNT
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if cfg.boolean("DJANGO_BEHIND_TLS_PROXY", default=False)
    else None
)
SESSION_COOKIE_SECURE = cfg.boolean("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = cfg.integer("DJANGO_SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Everything is served from this origin: no CDN, no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)

# --- REST API (api/; README "REST API") -------------------------------------------------------
# A token lasts at most this long; an approving token acts only while its owner passed their
# second factor in the portal within PORTAL_API_MFA_HOURS.
PORTAL_API_TOKEN_MAX_DAYS = cfg.integer("PORTAL_API_TOKEN_MAX_DAYS", default=90, minimum=1)
PORTAL_API_MFA_HOURS = cfg.integer("PORTAL_API_MFA_HOURS", default=12, minimum=1)
# Calls per token, and calls without a valid token per client address (guessing tokens).
PORTAL_API_RATE = cfg.string("PORTAL_API_RATE", default="600/minute")
PORTAL_API_ANON_RATE = cfg.string("PORTAL_API_ANON_RATE", default="60/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ScopePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": PORTAL_API_RATE, "anonymous": PORTAL_API_ANON_RATE},
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Cursor",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vendor access portal API",
    "DESCRIPTION": (
        "Requests, approvals, pull requests, keys, findings, reports and the audit log of the "
        "vendor access portal. Authenticate with a personal token: `Authorization: Bearer "
        'vap_...`. Errors: `{"error": {"status", "code", "message", "fields"}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SECURITY": [{"token": []}],
    "APPEND_COMPONENTS": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer", "bearerFormat": "vap"}}
    },
    "AUTHENTICATION_WHITELIST": [],
    # One name per choice set, the model's own: many models have a `status`.
    "ENUM_NAME_OVERRIDES": {
        "Tier": "vendors.models.Tier",
        "VendorStatus": "vendors.models.Vendor.Status",
        "ReviewStatus": "vendors.models.SubprocessorReview.Status",
        "AccessRequestStatus": "approvals.models.AccessRequest.Status",
        "AccessKeyStatus": "keys.models.AccessKey.Status",
        "AccountStatus": "inventory.models.AwsAccount.Status",
        "FindingStatus": "verification.models.ExternalAccessFinding.Status",
        "ExportStatus": "reports.models.ReportExport.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_error_responses",
    ],
}

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_CONFIG = cfg.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = cfg.string(
    "DEFAULT_FROM_EMAIL", default="Vendor access portal <portal@localhost>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Notifications (notifications/services.py) -------------------------------------------------
# Optional Slack incoming webhook for request notices. The URL embeds its token, so it must
# travel over TLS and the error message must not echo it.
PORTAL_SLACK_WEBHOOK_URL = cfg.string("PORTAL_SLACK_WEBHOOK_URL", default="", allow_empty=True)
if PORTAL_SLACK_WEBHOOK_URL and not (
    PORTAL_SLACK_WEBHOOK_URL.lower().startswith("https://")
    and len(PORTAL_SLACK_WEBHOOK_URL) > len("https://")
):
    cfg.errors.append("PORTAL_SLACK_WEBHOOK_URL must be an https:// URL.")
    PORTAL_SLACK_WEBHOOK_URL = ""
# Addresses for security's notices (e.g. a team alias); empty: each active security member.
PORTAL_NOTIFY_SECURITY_EMAILS = cfg.strings("PORTAL_NOTIFY_SECURITY_EMAILS", default=[])
if any("@" not in address for address in PORTAL_NOTIFY_SECURITY_EMAILS):
    cfg.errors.append("PORTAL_NOTIFY_SECURITY_EMAILS must be comma-separated e-mail addresses.")
    PORTAL_NOTIFY_SECURITY_EMAILS = []

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = cfg.string("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # A broker with no server for one machine: messages are files in var/ (ECOSYSTEM.md §9).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "store_processed": False,
        # Broadcast (pidbox) messages too; the default is a `control` folder in the cwd.
        "control_folder": str(VAR_DIR / "broker" / "control"),
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis holds a delivered, unacknowledged message (acks_late) for this many seconds before
    # handing it to another worker: that is how a task whose worker died is run again. It must
    # outlast the longest retry countdown (fulfilment: 600 s), or a waiting retry would also
    # be redelivered. Workers look for such messages every tenth of it (10 s at most).
    _visibility_timeout = cfg.integer("CELERY_BROKER_VISIBILITY_TIMEOUT", default=3600, minimum=1)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility_timeout,
        "unacked_restore_interval": max(1, min(10, _visibility_timeout // 10)),
        "unacked_restore_throttle": 1,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = False  # task arguments are ids, but never copy them into results
CELERY_TASK_ALWAYS_EAGER = cfg.boolean("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
PORTAL_HEARTBEAT_SECONDS = cfg.integer("PORTAL_HEARTBEAT_SECONDS", default=60)
# First wait before a fulfilment task retries a temporary forge or git error; it doubles on
# each retry (10, 20, 40 ... capped at 600 s) unless the forge asked for a wait itself.
PORTAL_TASK_RETRY_SECONDS = cfg.integer("PORTAL_TASK_RETRY_SECONDS", default=10, minimum=1)
# Minutes between account inventory syncs from AWS Organizations.
PORTAL_ACCOUNT_SYNC_MINUTES = cfg.integer("PORTAL_ACCOUNT_SYNC_MINUTES", default=60, minimum=1)
# Seconds between checks for IAM users that appeared after a merge (their key is issued then),
# and minutes between key hygiene passes (last use, rotation, unused flag).
PORTAL_KEY_POLL_SECONDS = cfg.integer("PORTAL_KEY_POLL_SECONDS", default=60, minimum=5)
PORTAL_KEY_HYGIENE_MINUTES = cfg.integer("PORTAL_KEY_HYGIENE_MINUTES", default=60, minimum=1)
# Minutes between passes that read every merged grant back from AWS (issue 17), and the days
# a verified grant's roles may go unused before security is told (as for access keys).
PORTAL_VERIFY_MINUTES = cfg.integer("PORTAL_VERIFY_MINUTES", default=60, minimum=1)
PORTAL_GRANT_IDLE_DAYS = cfg.integer("PORTAL_GRANT_IDLE_DAYS", default=45, minimum=1)
# Minutes between organization-wide scans for outside principals in roles' trust policies.
PORTAL_SCAN_MINUTES = cfg.integer("PORTAL_SCAN_MINUTES", default=360, minimum=1)
# The audit event stream (eventstream/): the first wait before a failed event is sent again
# (it doubles on each attempt: 30 s, 1 min, 2 min ...), and the attempts after which it becomes
# a dead letter and the stream moves on to the next event.
PORTAL_EVENT_RETRY_SECONDS = cfg.integer("PORTAL_EVENT_RETRY_SECONDS", default=30, minimum=1)
PORTAL_EVENT_MAX_ATTEMPTS = cfg.integer("PORTAL_EVENT_MAX_ATTEMPTS", default=8, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "accessportal.tasks.worker_heartbeat_task",
        "schedule": float(PORTAL_HEARTBEAT_SECONDS),
    },
    "accounts-sync": {
        "task": "inventory.tasks.accounts_sync_task",
        "schedule": float(PORTAL_ACCOUNT_SYNC_MINUTES * 60),
    },
    # The fallback for missed forge webhooks: open pull requests polled every 5 minutes.
    "pull-requests-sync": {
        "task": "fulfilment.tasks.pull_requests_sync_task",
        "schedule": 300.0,
    },
    # Access keys (keys/services.py): issue once the IAM user exists, expire links and
    # deactivate keys that must stop, then last use, rotation and the unused flag.
    "access-keys-issue": {
        "task": "keys.tasks.access_keys_issue_due_task",
        "schedule": float(PORTAL_KEY_POLL_SECONDS),
    },
    "access-keys-sweep": {
        "task": "keys.tasks.access_keys_sweep_task",
        "schedule": 300.0,
    },
    "access-keys-hygiene": {
        "task": "keys.tasks.access_keys_hygiene_task",
        "schedule": float(PORTAL_KEY_HYGIENE_MINUTES * 60),
    },
    # PDF binders (reports/exports.py): deleted after PORTAL_EXPORT_KEEP_HOURS, failed when
    # the worker preparing one died or none picked it up. A few cheap queries.
    "report-exports-sweep": {
        "task": "reports.tasks.report_exports_sweep_task",
        "schedule": 300.0,
    },
    # Every merged grant read back from AWS (verification/grants.py), then the idle flag.
    "grants-verify": {
        "task": "verification.tasks.grants_verify_task",
        "schedule": float(PORTAL_VERIFY_MINUTES * 60),
    },
    # Every account's roles scanned for vendor access nobody approved (verification/findings.py).
    "external-access-scan": {
        "task": "verification.tasks.external_access_scan_task",
        "schedule": float(PORTAL_SCAN_MINUTES * 60),
    },
    # Grants near their end date become "expiring"; past it they are revoked. Idempotent.
    "grants-expire": {
        "task": "fulfilment.tasks.grants_expire_task",
        "schedule": 3600.0,
    },
    # Nothing waits forever (issue 18): pending requests and extension asks are reminded,
    # then lapse (approvals/reminders.py); reviews falling due remind their owner and security
    # (vendors/reminders.py). Idempotent, and safe with two workers running them at once.
    "requests-remind": {
        "task": "approvals.tasks.requests_remind_task",
        "schedule": 3600.0,
    },
    "reviews-remind": {
        "task": "vendors.tasks.reviews_remind_task",
        "schedule": 3600.0,
    },
    # Re-certification (recertification/services.py): once a day, a campaign per vendor whose
    # grants are due by its tier's review interval; every hour, the warnings before a
    # campaign's deadline and the revocation of what nobody re-certified by it. Idempotent.
    "recertification-cadence": {
        "task": "recertification.tasks.campaigns_cadence_task",
        "schedule": 86400.0,
    },
    "recertification-sweep": {
        "task": "recertification.tasks.campaigns_sweep_task",
        "schedule": 3600.0,
    },
    # The audit event stream: each new audit row schedules a pass after its commit; this one
    # sends the retries that fall due and anything a lost message left behind. One query when
    # no endpoint is set up.
    "events-deliver": {
        "task": "eventstream.tasks.deliver_events",
        "schedule": 60.0,
    },
}
# A submitted request without a decision reminds the approvers after this many hours, and again
# every such interval at most; it lapses this many days after its submission. An extension ask
# is reminded on the same interval and lapses this many days after it was asked.
PORTAL_PENDING_REMIND_HOURS = cfg.integer("PORTAL_PENDING_REMIND_HOURS", default=48, minimum=1)
PORTAL_PENDING_EXPIRE_DAYS = cfg.integer("PORTAL_PENDING_EXPIRE_DAYS", default=14, minimum=1)
PORTAL_EXTENSION_EXPIRE_DAYS = cfg.integer("PORTAL_EXTENSION_EXPIRE_DAYS", default=7, minimum=1)
# Hours a prepared PDF binder stays downloadable (it can always be made again: the report is
# rebuilt from the audit log for its as-of time).
PORTAL_EXPORT_KEEP_HOURS = cfg.integer("PORTAL_EXPORT_KEEP_HOURS", default=24, minimum=1)
# The queue of PDF binder tasks: each holds a worker for minutes at a large organization's
# size, so they have a worker of their own (`celery worker --queues reports`, the Procfile's
# and docker-compose's "reports") and never make fulfilment, revocation or the heartbeat wait.
PORTAL_REPORTS_QUEUE = cfg.string("PORTAL_REPORTS_QUEUE", default="reports")
CELERY_TASK_ROUTES = {"reports.tasks.report_export_task": {"queue": PORTAL_REPORTS_QUEUE}}
# Days before a grant's end date when it becomes "expiring" and the requester is told.
PORTAL_EXPIRY_NOTICE_DAYS = cfg.integer("PORTAL_EXPIRY_NOTICE_DAYS", default=7, minimum=0)
# Re-certification: the days a cadence campaign gives its owner and security to answer, and
# the days before any campaign's deadline when those still to answer are warned (once).
PORTAL_RECERT_DAYS = cfg.integer("PORTAL_RECERT_DAYS", default=14, minimum=1)
PORTAL_RECERT_WARN_DAYS = cfg.integer("PORTAL_RECERT_WARN_DAYS", default=3, minimum=0)

# --- AWS, Substrate repository, forge ---------------------------------------------------------
# An empty AWS_ENDPOINT_URL means real AWS through boto3's standard credential chain.
AWS_ENDPOINT_URL = cfg.string("AWS_ENDPOINT_URL", default="http://127.0.0.1:5055", allow_empty=True)
AWS_REGION = cfg.string("AWS_REGION", default="us-east-1")
AWS_ORGANIZATION_READER_ROLE_ARN = cfg.string(
    "AWS_ORGANIZATION_READER_ROLE_ARN", default="", allow_empty=True
)
AWS_ADMIN_ROLE_ARN = cfg.string("AWS_ADMIN_ROLE_ARN", default="", allow_empty=True)
# The read-only role the portal assumes in every account to read IAM back after a grant is
# merged (Substrate's `Auditor` by default). Substrate lets only principals of its own account
# assume the member accounts' Auditor roles, so a portal running elsewhere chains through a
# first hop, AWS_AUDIT_ENTRY_ROLE_ARN (e.g. the Substrate account's Auditor).
AWS_AUDIT_ROLE_NAME = cfg.string("AWS_AUDIT_ROLE_NAME", default="Auditor")
AWS_AUDIT_ROLE_PATH = cfg.string("AWS_AUDIT_ROLE_PATH", default="/")
AWS_AUDIT_ENTRY_ROLE_ARN = cfg.string("AWS_AUDIT_ENTRY_ROLE_ARN", default="", allow_empty=True)
# An IAM Access Analyzer (an organization analyzer, on real AWS) whose active findings on roles
# the external-access scan merges with its own reading of trust policies; empty: not read.
AWS_ACCESS_ANALYZER_ARN = cfg.string("AWS_ACCESS_ANALYZER_ARN", default="", allow_empty=True)
if not re.fullmatch(r"[\w+=,.@-]{1,64}", AWS_AUDIT_ROLE_NAME, re.ASCII):
    cfg.errors.append(f"AWS_AUDIT_ROLE_NAME={AWS_AUDIT_ROLE_NAME!r} is not an IAM role name.")
if not re.fullmatch(r"/(?:[\x21-\x7e]*/)?", AWS_AUDIT_ROLE_PATH, re.ASCII):
    cfg.errors.append(
        f"AWS_AUDIT_ROLE_PATH={AWS_AUDIT_ROLE_PATH!r} is not an IAM path (/ at both ends)."
    )
# The emergency cut-off (verification.cutoff) writes IAM as this role in each account: a deny-all
# policy on the vendor's roles, its trust statements out of Substrate's roles, its keys off.
# Empty (the default) turns the cut-off off; the portal then never writes IAM outside the
# pull requests.
AWS_BREAK_GLASS_ROLE_NAME = cfg.string("AWS_BREAK_GLASS_ROLE_NAME", default="", allow_empty=True)
AWS_BREAK_GLASS_ROLE_PATH = cfg.string("AWS_BREAK_GLASS_ROLE_PATH", default="/")
if AWS_BREAK_GLASS_ROLE_NAME and not re.fullmatch(
    r"[\w+=,.@-]{1,64}", AWS_BREAK_GLASS_ROLE_NAME, re.ASCII
):
    cfg.errors.append(
        f"AWS_BREAK_GLASS_ROLE_NAME={AWS_BREAK_GLASS_ROLE_NAME!r} is not an IAM role name."
    )
if not re.fullmatch(r"/(?:[\x21-\x7e]*/)?", AWS_BREAK_GLASS_ROLE_PATH, re.ASCII):
    cfg.errors.append(
        f"AWS_BREAK_GLASS_ROLE_PATH={AWS_BREAK_GLASS_ROLE_PATH!r} is not an IAM path "
        "(/ at both ends)."
    )
SUBSTRATE_REPO_URL = cfg.string("SUBSTRATE_REPO_URL", default=str(VAR_DIR / "substrate.git"))
SUBSTRATE_DEFAULT_BRANCH = cfg.string("SUBSTRATE_DEFAULT_BRANCH", default="main")
# The organization's Substrate release (YYYY.MM), for repositories that do not record it in
# substrate.valid-environment-quality-pairs.json; when set it wins over what the repository says
# (approvals.requests.generator_options passes it to the change-set generator).
SUBSTRATE_VERSION = cfg.string("SUBSTRATE_VERSION", default="", allow_empty=True)
if SUBSTRATE_VERSION and not re.fullmatch(r"[0-9]{4}\.[0-9]{2}", SUBSTRATE_VERSION, re.ASCII):
    cfg.errors.append(
        f"SUBSTRATE_VERSION={SUBSTRATE_VERSION!r} is not a Substrate release (YYYY.MM: 2024.08)."
    )
FORGE = cfg.choice("FORGE", choices=("local", "github", "gitlab"), default="local")
FORGE_API_URL = cfg.string("FORGE_API_URL", default="", allow_empty=True)
FORGE_REPOSITORY = cfg.string("FORGE_REPOSITORY", default="", allow_empty=True)
FORGE_TOKEN = cfg.string("FORGE_TOKEN", default="", allow_empty=True)
FORGE_WEBHOOK_SECRET = cfg.string("FORGE_WEBHOOK_SECRET", default="", allow_empty=True)
# The commit status the portal sets on the head of each pull request it opens or regenerates;
# branch protection requires it so that a merge bypassing the portal is blocked (SOC2.md
# section 3 rule 7). Changing it means changing the branch protection too.
FORGE_STATUS_CONTEXT = cfg.string("FORGE_STATUS_CONTEXT", default="vendor-access-portal/approval")
# GitHub App instead of a token (FORGE=github): the app id, its installation on the
# repository's owner, and the app's private key (PEM; "\n" escapes allowed in one line).
FORGE_GITHUB_APP_ID = cfg.string("FORGE_GITHUB_APP_ID", default="", allow_empty=True)
FORGE_GITHUB_APP_INSTALLATION_ID = cfg.integer("FORGE_GITHUB_APP_INSTALLATION_ID", default=0)
FORGE_GITHUB_APP_PRIVATE_KEY = cfg.string(
    "FORGE_GITHUB_APP_PRIVATE_KEY", default="", allow_empty=True
).replace("\\n", "\n")


# --- Access key secrets (provisioning/keys.py) ----------------------------------------------
# Comma-separated Fernet keys, the first encrypts, all decrypt (rotation: put a new key first,
# re-encrypt, then drop the old one). Empty: a local-only key derived from DJANGO_SECRET_KEY.
# An invalid key is reported by position only: the value is a secret and never echoed.
def _fernet_keys(name: str) -> list[str]:
    from cryptography.fernet import Fernet

    keys = cfg.strings(name, default=[])
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            cfg.errors.append(
                f"{name}: key {position} of {len(keys)} is not a Fernet key (32 url-safe "
                "base64-encoded bytes; generate one with Fernet.generate_key()); value not shown."
            )
            return []
    return keys


PORTAL_KEY_ENCRYPTION_KEYS = _fernet_keys("PORTAL_KEY_ENCRYPTION_KEYS")
# Hours a one-time link to a new access key's secret stays valid before the secret is wiped.
PORTAL_KEY_LINK_HOURS = cfg.integer("PORTAL_KEY_LINK_HOURS", default=72, minimum=1)
# Key hygiene (SOC2.md section 3 rule 5, CIS 2.11/2.12): rotate after this many days; the old
# key stops once the new one is used, or this many days after its secret was revealed; keys
# unused this long are flagged to security.
PORTAL_KEY_ROTATE_DAYS = cfg.integer("PORTAL_KEY_ROTATE_DAYS", default=90, minimum=1)
PORTAL_KEY_ROTATION_GRACE_DAYS = cfg.integer(
    "PORTAL_KEY_ROTATION_GRACE_DAYS", default=14, minimum=1
)
PORTAL_KEY_UNUSED_DAYS = cfg.integer("PORTAL_KEY_UNUSED_DAYS", default=45, minimum=1)
# One-time link pages: requests per client address and window before answering 429.
PORTAL_KEY_LINK_RATE = cfg.integer("PORTAL_KEY_LINK_RATE", default=20, minimum=1)
PORTAL_KEY_LINK_RATE_WINDOW_SECONDS = 600

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # One-time link tokens are masked in every record (django.request logs 404 paths).
    "filters": {"redact_key_links": {"()": "accessportal.log_redaction.RedactKeyLinks"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_key_links"],
        }
    },
    "root": {"handlers": ["console"], "level": cfg.string("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["redact_key_links"]},
        "django.security": {"filters": ["redact_key_links"]},
        # botocore logs whole responses at DEBUG, and CreateAccessKey's holds the secret: its
        # loggers never go below INFO, whatever LOG_LEVEL says.
        "botocore": {"level": "INFO"},
        "boto3": {"level": "INFO"},
        # WeasyPrint narrates every layout step at INFO; PDF reports need only its warnings.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Vendors and reviews ----------------------------------------------------------------------
# Months between reviews by tier (SOC2.md checklist item 22), e.g. "critical:6,high:12,...".
PORTAL_REVIEW_INTERVAL_MONTHS = cfg.tier_months(
    "PORTAL_REVIEW_MONTHS", default={"critical": 6, "high": 12, "medium": 12, "low": 24}
)
PORTAL_REVIEW_DUE_SOON_DAYS = cfg.integer("PORTAL_REVIEW_DUE_SOON_DAYS", default=30)
# Days before a vendor's next review is due when its owner and security are reminded (once per
# due date, and once more when it is overdue).
PORTAL_REVIEW_REMIND_DAYS = cfg.integer("PORTAL_REVIEW_REMIND_DAYS", default=30, minimum=0)
# A SOC report whose period ended longer ago than this is stale unless a bridge letter covers it.
PORTAL_SOC_REPORT_STALE_DAYS = cfg.integer("PORTAL_SOC_REPORT_STALE_DAYS", default=365)
PORTAL_EVIDENCE_MAX_BYTES = (
    cfg.integer("PORTAL_EVIDENCE_MAX_MB", default=25, minimum=1) * 1024 * 1024
)
FILE_UPLOAD_PERMISSIONS = 0o640

# --- Access requests --------------------------------------------------------------------------
PORTAL_MAX_GRANT_DAYS = cfg.integer("PORTAL_MAX_GRANT_DAYS", default=365, minimum=1)
# Extensions: each adds at most this many days from today, and a grant is extended this often.
PORTAL_MAX_EXTENSION_DAYS = cfg.integer("PORTAL_MAX_EXTENSION_DAYS", default=90, minimum=1)
PORTAL_MAX_EXTENSIONS = cfg.integer("PORTAL_MAX_EXTENSIONS", default=2)
# Approvals needed for any request; risk raises it to 2 where DESIGN.md says (never lowers it).
PORTAL_MIN_APPROVALS = cfg.integer("PORTAL_MIN_APPROVALS", default=1, minimum=1)
# Approvals, by security members other than the proposer, that put a change of the approval
# rules in force (approvals/rules.py): two, so no single person can loosen who decides.
PORTAL_RULE_CHANGE_APPROVALS = cfg.integer("PORTAL_RULE_CHANGE_APPROVALS", default=2, minimum=2)

PORTAL_ROLES = {
    "requesters": _("Requesters"),
    "security": _("Security team"),
    "auditors": _("Auditors"),
}

if cfg.errors:
    raise ImproperlyConfigured(
        "Invalid configuration:\n  - " + "\n  - ".join(cfg.errors) + "\nSee .env.example."
    )
