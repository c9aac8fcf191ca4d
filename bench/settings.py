"""The project's settings, plus what the benchmark's comparisons need.

Used only by ``--layer`` other than ``core`` and by the ``--endpoint`` floors
(``DJANGO_SETTINGS_MODULE``); the standard run serves ``project.settings`` unchanged.

- ``BENCH_LAYER=pubsub``: the channels-redis pub/sub layer instead of the core layer.
- ``BENCH_LAYER=core-timeout``: the core layer with a Redis socket timeout (30 s) longer
  than its blocking receive (``BZPOPMIN`` of 5 s). redis-py 8 defaults to a 5 s socket
  timeout, so an idle receive fails with ``TimeoutError`` about every 5 s.
- ``ROOT_URLCONF``: the project's URLs plus the floor views of ``bench.floor``.
"""

import os

from project.settings import *  # noqa: F403
from project.settings import CHANNEL_LAYERS, REDIS_URL

ROOT_URLCONF = "bench.urls"

_LAYER = os.environ.get("BENCH_LAYER", "core")
if REDIS_URL and _LAYER == "pubsub":
    CHANNEL_LAYERS["default"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "bench"},
    }
elif REDIS_URL and _LAYER == "core-timeout":
    CHANNEL_LAYERS["default"]["CONFIG"] = {
        **CHANNEL_LAYERS["default"]["CONFIG"],
        "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
    }
