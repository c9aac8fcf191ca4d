"""Ringing from the calling thread: one PUBLISH per message, for channels-redis's pub/sub layer.

Handing a doorbell to the background sender costs a thread's wake-up before it goes (0.05-0.3
ms at the median on the machines of docs/PERFORMANCE.md), and the caller waits for it: 0.3-0.5
ms of each ``notify()``. With the pub/sub layer a group message is one PUBLISH on the
group's shard, which a pooled connection sends from the calling thread as fast as Redis
answers. The connections give up quickly (``REPLY_SECONDS``, ``CONNECT_SECONDS``) and never
retry: on a Redis that hangs or is away the caller loses at most that once, and
:mod:`notifications.delivery.publish` hands what did not go to its background sender, which
reports the outage. Other layers (the in-memory one, channels-redis's core layer, whose
groups are kept in Redis and sent to by a script) and Sentinel hosts have no ringer and keep
the sender.

The ringer reads the layer's options and naming where channels-redis keeps them (it offers
no public way to): ``tests/notifications/delivery/test_direct.py`` checks that a ring reaches
the layer's own listeners, sharded and encrypted, so an upgrade that changes them fails there.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

from channels.layers import BaseChannelLayer

from notifications.delivery import messages

if TYPE_CHECKING:
    import redis
    from channels_redis import pubsub

logger = logging.getLogger(__name__)

# How long a caller waits for Redis's answer to a PUBLISH, and for a connection to be made
# (a TLS handshake to a Redis across the network included), before its message goes to the
# background sender instead.
REPLY_SECONDS = 0.05
CONNECT_SECONDS = 0.25


class Ringer:
    """Sends a layer's group messages with blocking connections, one pool per Redis server."""

    def __init__(self, layer: pubsub.RedisPubSubChannelLayer) -> None:
        import redis
        from channels_redis import pubsub
        from channels_redis.utils import _consistent_hash

        # The layer's own reading of its options: the same hosts, shards and prefix.
        loop_layer = pubsub.RedisPubSubLoopLayer(*layer._args, **layer._kwargs)
        self._channel_name = loop_layer._get_group_channel_name
        self._shard_of = _consistent_hash
        self._serialize = layer.serialize
        self._clients = [redis.Redis(connection_pool=_pool(s.host)) for s in loop_layer._shards]

    def group_send(self, group: str, message: messages.Message) -> None:
        """PUBLISH ``message`` to ``group``'s subscribers, as ``layer.group_send`` would."""
        channel = self._channel_name(group)
        client = self._clients[self._shard_of(channel, len(self._clients))]
        client.publish(channel, self._serialize(message))


def _pool(host: dict[str, Any]) -> redis.ConnectionPool:
    """A blocking pool for one of the layer's hosts, as channels-redis makes its own."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options = {
        **host,
        "socket_timeout": REPLY_SECONDS,
        "socket_connect_timeout": CONNECT_SECONDS,
        "retry": Retry(NoBackoff(), 0),
    }
    if "master_name" in options:
        raise ValueError("Redis Sentinel hosts are served by the background sender only.")
    address = options.pop("address", None)
    if address is not None:
        return redis.ConnectionPool.from_url(address, **options)
    return redis.ConnectionPool(**options)


_ringers: weakref.WeakKeyDictionary[BaseChannelLayer, Ringer | None] = weakref.WeakKeyDictionary()


def ringer(layer: BaseChannelLayer | None) -> Ringer | None:
    """Return ``layer``'s ringer, or None where messages must go through the layer itself."""
    if layer is None:
        return None
    try:
        return _ringers[layer]
    except KeyError:
        found = _ringers[layer] = _new_ringer(layer)
        return found


def _new_ringer(layer: BaseChannelLayer) -> Ringer | None:
    try:
        # Imported here, as in Ringer: Redis is optional (the ``[redis]`` extra), and
        # without it there is no pub/sub layer to ring for.
        from channels_redis import pubsub
    except ImportError:
        return None
    if not isinstance(layer, pubsub.RedisPubSubChannelLayer):
        return None
    try:
        return Ringer(layer)
    except Exception as e:
        logger.info("Doorbells go through the background sender only: %s", e)
        return None
