"""The channel layer's groups, many at a time, and the Redis servers that carry them.

channels-redis's pub/sub layer subscribes one group per call: a ``SUBSCRIBE`` written to the
socket, a system call, for each. A process joining the routes of a thousand users who open
at once would make a thousand. :meth:`Groups.join` and :meth:`Groups.leave` make one
``SUBSCRIBE`` or ``UNSUBSCRIBE`` per Redis server for all of them, and keep the layer's own
books as its ``group_add`` and ``group_discard`` do (its map of groups to channels, each
server's set of subscribed names), so its receiver delivers what comes and redis-py
subscribes them again after a reconnection. That reads the layer's internals, those of
channels-redis 4.3 (the version the package requires); any other layer gets one call per
group.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from channels.layers import BaseChannelLayer

# Names per SUBSCRIBE: a command of a few tens of kilobytes at most.
CHUNK = 1000


class Groups:
    """Join and leave many groups of one channel layer, on this event loop."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        loop_layer: Any = getattr(layer, "_get_layer", lambda: None)()
        # The pub/sub layer of this loop, or None for a layer that is not one.
        self._pubsub: Any = loop_layer if hasattr(loop_layer, "_shards") else None
        self.count = len(self._pubsub._shards) if self._pubsub is not None else 1

    def shard_of(self, group: str) -> int:
        """Which of the layer's Redis servers carries ``group`` (0 for other layers)."""
        if self._pubsub is None:
            return 0
        return int(self._pubsub._shards.index(self._shard(group)))

    def one_group_each(self, base: str) -> list[str]:
        """Return a group name per Redis server, each starting with ``base``."""
        found: dict[int, str] = {}
        n = 0
        while len(found) < self.count:
            found.setdefault(self.shard_of(f"{base}.{n}"), f"{base}.{n}")
            n += 1
        return [found[shard] for shard in range(self.count)]

    async def join(self, groups: Iterable[str], channel: str) -> None:
        """Add ``channel`` to each of ``groups``."""
        layer = self._pubsub
        if layer is None:
            for group in groups:
                await self.layer.group_add(group, channel)
            return
        if channel not in layer.channels:
            raise RuntimeError(f"{channel} is not a channel of this process")
        names_by_shard: dict[Any, list[str]] = {}
        for group in groups:
            name = layer._get_group_channel_name(group)
            layer.groups.setdefault(name, set()).add(channel)
            names_by_shard.setdefault(layer._get_shard(name), []).append(name)
        for shard, names in names_by_shard.items():
            await _subscribe(shard, names, subscribe=True)

    async def leave(self, groups: Iterable[str], channel: str) -> None:
        """Take ``channel`` out of each of ``groups``; a group left empty is unsubscribed."""
        layer = self._pubsub
        if layer is None:
            for group in groups:
                await self.layer.group_discard(group, channel)
            return
        names_by_shard: dict[Any, list[str]] = {}
        for group in groups:
            name = layer._get_group_channel_name(group)
            members = layer.groups.get(name)
            if members is None or channel not in members:
                continue
            members.discard(channel)
            if not members:
                del layer.groups[name]
                names_by_shard.setdefault(layer._get_shard(name), []).append(name)
        for shard, names in names_by_shard.items():
            await _subscribe(shard, names, subscribe=False)

    def _shard(self, group: str) -> Any:
        return self._pubsub._get_shard(self._pubsub._get_group_channel_name(group))


async def _subscribe(shard: Any, names: list[str], *, subscribe: bool) -> None:
    """Subscribe (or unsubscribe) one server's connection to ``names`` it is not (is)
    subscribed to, as its own ``subscribe``/``unsubscribe`` do for one name."""
    async with shard._lock:
        subscribed: set[str] = shard._subscribed_to
        todo = [name for name in names if (name in subscribed) != subscribe]
        if not todo:
            return
        shard._ensure_redis()
        shard._ensure_receiver()
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            if subscribe:
                await shard._pubsub.subscribe(*chunk)
                subscribed.update(chunk)
            else:
                await shard._pubsub.unsubscribe(*chunk)
                subscribed.difference_update(chunk)
