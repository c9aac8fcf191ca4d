"""Load tests against the real stack: daphne, Redis and PostgreSQL on this machine.

Run ``python -m bench`` (or ``make bench``) for the standard scenarios, ``--help`` for a
smaller run. Results are described in ``docs/PERFORMANCE.md``.
"""
