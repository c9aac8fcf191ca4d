"""The HTTP API: the inbox and its actions, tokens and stream tickets, preferences, the
OpenAPI schema, health and metrics, and the unsubscribe page of emails."""
