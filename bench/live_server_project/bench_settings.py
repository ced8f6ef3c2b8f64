"""
Settings of the project bench/live_server.py measures: Django's contrib apps
and bench_app's few dozen models, on the server BENCH_DATABASE names
(postgresql or mariadb), reached as tests/settings/ reach it. The test
database is test_<BENCH_DATABASE_NAME>, made and dropped by the test runner.
"""

import os

SECRET_KEY = "bench-not-secret"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "bench_app",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "bench_app.urls"
STATIC_URL = "static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Installs the overlay, which the overlay's live-server class needs.
TEST_RUNNER = "django_overlay.runner.DiscoverRunner"

SERVERS = {
    "postgresql": ("django.db.backends.postgresql", "DJANGO_OVERLAY_PG", "5432", "postgres"),
    "mariadb": ("django.db.backends.mysql", "DJANGO_OVERLAY_MARIADB", "3306", "root"),
}
engine, prefix, port, user = SERVERS[os.environ["BENCH_DATABASE"]]
DATABASES = {
    "default": {
        "ENGINE": engine,
        "HOST": os.environ.get(f"{prefix}_HOST", "127.0.0.1"),
        "PORT": os.environ.get(f"{prefix}_PORT", port),
        "USER": os.environ.get(f"{prefix}_USER", user),
        "NAME": os.environ["BENCH_DATABASE_NAME"],
        "TEST": {"CHARSET": "utf8mb4"} if engine.endswith("mysql") else {},
    }
}
