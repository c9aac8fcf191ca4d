"""The channel layer to serve with: channels-redis's pub/sub layer, listening without polling.

channels-redis's pub/sub layer reads each Redis server's subscriptions in a loop that waits
at most 0.1 s for a message and then goes round again: ten wake-ups a second per Redis
server in every process that listens, busy or idle, each about 0.2 ms of CPU here. With
per-user routes a server process receives only its own users' messages, and those wake-ups
were a third of what an idle one did (docs/PERFORMANCE.md). This layer's listener waits up
to ``RECEIVE_WAIT_SECONDS`` instead. Nothing else changes: a message is read the moment it
arrives either way, a lost connection ends the wait at once, and publishing is untouched, so
processes with either layer work together.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis import pubsub
from channels_redis.utils import _wrap_close, decode_hosts

logger = logging.getLogger(pubsub.__name__)

# The longest the listener waits for a message before it looks at its subscriptions again.
RECEIVE_WAIT_SECONDS = 1.0


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    """``channels_redis.pubsub.RedisPubSubChannelLayer``, with the same options."""

    def _get_layer(self) -> pubsub.RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer


class _LoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]


class _Shard(pubsub.RedisSingleShardConnection):
    async def _do_receiving(self) -> None:
        """channels-redis's listener, waiting ``RECEIVE_WAIT_SECONDS`` where it waits 0.1 s."""
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=RECEIVE_WAIT_SECONDS
                    )
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, TimeoutError, GeneratorExit):
                raise
            except BaseException:
                logger.exception("Unexpected exception in receive task")
                await asyncio.sleep(1)
