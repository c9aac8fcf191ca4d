"""Every message that travels between publishers, the hub and streams: one vocabulary.

Three kinds of message, by who sends them to whom:

- **On the channel layer**, between processes: a publisher sends :data:`BATCH` messages, each
  carrying ``[user_id, message]`` items for users' streams, to the :func:`route` of each of a
  few users (the processes holding a stream of that user subscribe it), or, for many users,
  to :data:`STREAMS_GROUP`, which every server process's hub joins. A hub also sends itself
  :data:`PROBE` messages through each Redis server, to prove that the live feed works end to
  end, and a :data:`ROUTE_PROBE` through the routes it has just joined, to prove them.
- **From publishers to one user's streams** (inside a batch): a stored notification, a
  change of read state, the order to close all of the user's streams, or one of them.
- **From the hub to streams in its process**: the live feed changed state, the sweep saw a
  newer ``seq`` or a revocation whose message never came, a slot was lost.

A message is a plain ``dict`` with a ``"type"``, so the channel layer can carry it; the
builders below are the only places one is made, and ``Stream`` has a branch for each type.
"""

from __future__ import annotations

import json
from typing import Any

Message = dict[str, Any]

# The channel-layer group every server process's hub joins: what goes to many users.
STREAMS_GROUP = "notifications.streams"
# The prefix of each user's route: the group of the processes holding a stream of that user.
ROUTE_PREFIX = "notifications.user."
# Items per batch: a broadcast to many users is a few layer messages, not one per user.
BATCH_SIZE = 500
# What a message takes as a frame besides its JSON (``id:``, ``event:``, ``data:``), and as
# a whole when it says nothing of its size: enough for the small messages of state.
FRAME_BYTES = 64

# On the channel layer.
BATCH = "notifications.batch"  # {"items": [[user_id, message], ...]}
PROBE = "notifications.probe"  # {"n": int, "shard": int}: a hub's numbered message to itself
ROUTE_PROBE = "notifications.route_probe"  # {"n", "shard"}: proves routes a hub just joined

# From publishers to one user's streams.
NOTIFICATION = "notifications.notification"  # {"payload": {...}[, "params"]}: the API's shape
READ_STATE = "notifications.read_state"  # {"ids", "unread_count"[, "unread_ids"]}
# {"event": "archived" | ..., "ids", "unread_count"[, "until"][, "notifications"]}
STATE = "notifications.state"
CLOSE_USER_STREAMS = "notifications.close_user_streams"  # credentials stopped being good
CLOSE_STREAM = "notifications.close_stream"  # {"connection": str}: evicted over the limit

# From the hub to the streams of its process.
FEED_CHANGED = "notifications.feed_changed"  # {"generation": int}: doorbells may be lost
NEWER_SEQ = "notifications.newer_seq"  # {"seq": int}: the sweep saw it stored
REVOKED_LATELY = "notifications.revoked_lately"  # {"revocations": int}: the sweep saw it
SLOT_LOST = "notifications.slot_lost"  # the stream is the newest over its user's limit
SERVER_STOPPING = "notifications.server_stopping"  # the process is shutting down
ROUTE_READY = "notifications.route_ready"  # the user's route was proven after the stream read


def route(user_id: int) -> str:
    """The channel-layer group of ``user_id``'s route."""
    return f"{ROUTE_PREFIX}{user_id}"


def batch(items: list[list[Any]]) -> Message:
    return {"type": BATCH, "items": items}


def probe(n: int, shard: int) -> Message:
    return {"type": PROBE, "n": n, "shard": shard}


def route_probe(n: int, shard: int) -> Message:
    return {"type": ROUTE_PROBE, "n": n, "shard": shard}


def notification(payload: dict[str, Any], *, params: dict[str, Any] | None = None) -> Message:
    """A stored notification, as its JSON-ready payload (``payloads.stored_payload``).

    It carries the size of its frame, measured once as it is published, for the streams
    that hold it waiting to count (``stream.inboxes``), and the ``params`` of a templated
    one, which each stream renders in its reader's language.
    """
    size = FRAME_BYTES + len(json.dumps(payload, separators=(",", ":")))
    message = {"type": NOTIFICATION, "payload": payload, "size": size}
    if params is not None:
        message["params"] = params
    return message


def read_state(
    *, ids: list[int], unread_count: int, unread_ids: list[int] | None = None
) -> Message:
    """Read state changed: ``ids`` became read (``unread_ids`` unread), leaving ``unread_count``.

    Clients that only mark ids read stay correct when notifications become unread, since
    ``ids`` is then empty and the count is right.
    """
    message: Message = {"type": READ_STATE, "ids": ids, "unread_count": unread_count}
    if unread_ids is not None:
        message["unread_ids"] = unread_ids
    return message


def state(
    event: str,
    *,
    ids: list[int],
    unread_count: int,
    until: str | None = None,
    notifications: list[tuple[dict[str, Any], dict[str, Any] | None]] | None = None,
) -> Message:
    """Another change of state than reads, told as ``event`` (``archived``, ``unarchived``,
    ``snoozed``, ``unsnoozed``): ``ids`` changed, leaving ``unread_count``; a snooze says
    ``until``, and what comes back carries its ``notifications`` (payload and params, as
    :func:`notification`'s), rendered by each stream in its reader's language."""
    message: Message = {"type": STATE, "event": event, "ids": ids, "unread_count": unread_count}
    if until is not None:
        message["until"] = until
    if notifications is not None:
        message["notifications"] = [list(pair) for pair in notifications]
        size = FRAME_BYTES * (1 + len(notifications))
        message["size"] = size + len(json.dumps(message["notifications"], separators=(",", ":")))
    return message


def size_of(message: Message) -> int:
    """The bytes ``message`` takes as a frame, roughly: what it says, or a small message's."""
    size = message.get("size")
    return size if isinstance(size, int) else FRAME_BYTES


def close_user_streams() -> Message:
    return {"type": CLOSE_USER_STREAMS}


def close_stream(connection: str) -> Message:
    return {"type": CLOSE_STREAM, "connection": connection}


def feed_changed(generation: int) -> Message:
    return {"type": FEED_CHANGED, "generation": generation}


def newer_seq(seq: int) -> Message:
    return {"type": NEWER_SEQ, "seq": seq}


def revoked_lately(revocations: int) -> Message:
    return {"type": REVOKED_LATELY, "revocations": revocations}


def slot_lost() -> Message:
    return {"type": SLOT_LOST}


def server_stopping() -> Message:
    return {"type": SERVER_STOPPING}


def route_ready() -> Message:
    return {"type": ROUTE_READY}
