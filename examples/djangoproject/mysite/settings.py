# Settings for the example Django project: the minimum a real project needs to serve requests.
# No database, no sessions, no admin — just URL routing and views.
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# An example, never a deployment: the key only signs nothing here. Override it from the environment.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "unicorn-example-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = []

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

DATABASES = {}

TEMPLATES = []

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Errors go to the server's error log (stderr), where unicorn's error log also goes.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
