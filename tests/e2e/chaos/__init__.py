"""The fault suite's harness: a private PostgreSQL, publishers in other processes, resuming
SSE readers, the fault schedule, and the verdict (see docs/TESTING.md)."""
