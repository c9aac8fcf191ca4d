"""The project's settings, plus what the benchmark's comparisons need.

Used only by ``--layer core`` and by the ``--endpoint`` floors
(``DJANGO_SETTINGS_MODULE``); the standard run serves ``project.settings`` unchanged.

- ``BENCH_LAYER=core``: the channels-redis core layer instead of the project's pub/sub
  layer, configured as the project had it: a Redis socket timeout (15 s) longer than its
  blocking receive (``BZPOPMIN`` of 5 s; redis-py 8's default of 5 s made an idle receive
  fail about every 5 s), room for 10,000 pending messages, members expiring after 300 s.
- ``ROOT_URLCONF``: the project's URLs plus the floor views of ``bench.floor``.
"""

from __future__ import annotations

import os

from project.settings import *  # noqa: F403
from project.settings import CHANNEL_LAYERS, REDIS_URL

ROOT_URLCONF = "bench.urls"

if REDIS_URL and os.environ.get("BENCH_LAYER") == "core":
    CHANNEL_LAYERS["default"] = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            **CHANNEL_LAYERS["default"]["CONFIG"],
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "capacity": 10_000,
            "group_expiry": 300,
        },
    }
