"""The peer site's settings: django-eventstream as its documentation sets it up.

Its database storage (events and counters in PostgreSQL, a database of its own; see
:mod:`bench.peer.storage` for the one change to it) and its Redis listener
(``EVENTSTREAM_REDIS``: every process publishes to Redis, and each daphne's listener wakes its
local streams), so that it runs on the same stores as the product.
"""

from __future__ import annotations

import os

import dj_database_url
from redis.connection import parse_url

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "django_eventstream"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.peer.urls"
ASGI_APPLICATION = "bench.peer.asgi.application"
USE_TZ = True
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=0)}
# The same pool as the product's servers (see bench.peer.storage for why the peer needs one).
DATABASES["default"]["OPTIONS"] = {
    "pool": {"min_size": 2, "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "8"))}
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

EVENTSTREAM_STORAGE_CLASS = "bench.peer.storage.PooledModelStorage"
EVENTSTREAM_REDIS = parse_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))
EVENTSTREAM_CHANNELMANAGER_CLASS = "bench.peer.channels.UserChannelManager"
