"""The stream runtime: ``GET /api/events/`` from the request to the last byte.

``opens`` is the open (served by ``front``, the ASGI application, and ``view``, the Django
view); ``connection`` is one stream's life; ``hub`` routes the process's channel-layer
messages to the ``inboxes`` of its streams; ``upkeep`` is the process's timed work;
``limits`` counts connection slots; ``sse`` and ``frames`` make the bytes.
"""
