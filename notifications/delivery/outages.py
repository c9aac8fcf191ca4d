"""Tell a Redis outage from any other failure of a Redis call."""

from __future__ import annotations


def unreachable(error: BaseException | None) -> bool:
    """Tell whether ``error`` says that Redis is away: refused, dropped or not answering.

    Such a failure is part of an outage, which the hub reports once for the whole process,
    with its end (``notifications.stream.hub``); code that meets it again and again while
    Redis is away leaves it to that report. Any other error (a refused script, a bug) is reported
    where it happens.
    """
    if isinstance(error, OSError):  # TimeoutError (asyncio.timeout's) is one too
        return True
    try:
        from redis.exceptions import ConnectionError, TimeoutError
    except ImportError:  # Redis is optional (the ``[redis]`` extra)
        return False
    return isinstance(error, ConnectionError | TimeoutError)
