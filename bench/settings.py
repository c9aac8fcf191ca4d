"""The project's settings, plus what the benchmark's comparisons need.

Used only by ``--layer pubsub`` and ``--endpoint`` floors (``DJANGO_SETTINGS_MODULE``);
the standard run serves ``project.settings`` unchanged.

- ``BENCH_LAYER=pubsub``: the channels-redis pub/sub layer instead of the core layer, so
  both layers can be measured against the same stream code.
- ``ROOT_URLCONF``: the project's URLs plus the floor views of ``bench.floor``.
"""

import os

from project.settings import *  # noqa: F403
from project.settings import CHANNEL_LAYERS, REDIS_URL

ROOT_URLCONF = "bench.urls"

if os.environ.get("BENCH_LAYER") == "pubsub" and REDIS_URL:
    CHANNEL_LAYERS["default"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "bench"},
    }
