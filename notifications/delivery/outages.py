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


def described(error: BaseException) -> str:
    """Name ``error`` and say what it says, for a log line an operator can act on.

    redis-py's own ``repr()`` of its errors drops their message (``network:ConnectionError``),
    and the timeout of a call to a Redis that hangs has none.
    """
    text = str(error) or ("no answer in time" if isinstance(error, TimeoutError) else "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
