"""The app's settings: one ``NOTIFICATIONS`` dict, read lazily so ``override_settings`` works."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

DEFAULTS: dict[str, Any] = {
    # Seconds between comment lines on an idle stream; also refreshes slot leases and groups.
    "HEARTBEAT_SECONDS": 30,
    # The reconnect delay sent to EventSource as ``retry:``.
    "RETRY_MILLISECONDS": 2000,
    # Concurrent streams per user, counted across all server processes.
    "MAX_CONNECTIONS_PER_USER": 5,
    # "reject" answers 429 over the limit; "evict_oldest" closes the oldest stream instead.
    "ON_LIMIT": "reject",
    # The Retry-After header of a 429.
    "LIMIT_RETRY_AFTER_SECONDS": 5,
    # Under daphne (either command line) and uvicorn: a stream whose client stopped reading
    # is closed once this many bytes wait unsent in the process (the client resumes with
    # Last-Event-ID).
    "SLOW_CLIENT_BUFFER_BYTES": 1_048_576,
    # At most this many stored notifications are replayed on resume; further behind: resync.
    "REPLAY_LIMIT": 200,
    # How often a stream catches up from the database when the live feed cannot be trusted.
    "POLL_SECONDS": 1.0,
    # Lifetime of a stream ticket (``POST /api/events/ticket/``).
    "TICKET_LIFETIME_SECONDS": 60,
    # Redis for cross-process connection limits; None counts streams in this process only.
    "REDIS_URL": None,
    # Prefix of every Redis key the app writes.
    "REDIS_PREFIX": "notifications",
    # The middleware of stream requests when served through ``notifications.asgi``; None:
    # django-cors-headers' CorsMiddleware if "corsheaders" is installed, else none.
    "STREAM_MIDDLEWARE": None,
    # Seconds a publish may take before it is abandoned (the row is safe in the database).
    "PUBLISH_TIMEOUT_SECONDS": 5.0,
    # A publish to at most this many users goes on each user's own route, to the server
    # processes that hold a stream of theirs; a larger one goes to every process, 500 users
    # to a message. 0 sends everything to every process, and no process subscribes routes.
    "ROUTED_FANOUT": 64,
    # The registered kinds: {"order.shipped": {"label": "Order shipped", "critical": False,
    # "email": True}}. Users choose, per kind, in-app delivery and email; critical kinds are
    # locked. Unregistered kinds are always delivered in the app and never emailed. A kind
    # may also declare "title" and "body" templates (translatable, with named fields:
    # _("Order #{number} shipped")), which notify(kind=..., params={...}) renders for each
    # reader in their language (``notifications.i18n.rendering``). A kind may name its
    # "category" ("orders": the inbox's tabs, ``?category=``) and declare "actions", each a
    # label and a URL template over the notification's data: [{"label": _("View order"),
    # "url": "/orders/{order}/"}] (``notifications.actions``).
    "KINDS": {},
    # Web Push (``notifications.push``): {"PRIVATE_KEY": ..., "PUBLIC_KEY": ..., "SUBJECT":
    # "mailto:ops@example.com"}, the VAPID keys as ``manage.py generate_vapid_keys`` prints
    # them (base64url). None: no push, at no cost. A kind says "push": True to be pushed by
    # default to users with no open stream; each user may change that per kind.
    "WEBPUSH": None,
    # The categories' labels, in the order the inbox shows them: {"orders": _("Orders")}.
    # A category that kinds name and this leaves out is shown by its name, after these.
    "CATEGORIES": {},
    # ``send_notification_emails`` mails unread notifications at least this old (minutes).
    "EMAIL_AFTER_MINUTES": 15,
    # Seconds a run's claim on a notification lasts before another run may email it: what a
    # run that died left unsent goes out after this. A live run renews its claims half-way,
    # so keep it well above ten times the mail server's timeout (``EMAIL_TIMEOUT``, 30 s when
    # unset), or a slow run could see another take its notifications.
    "EMAIL_CLAIM_SECONDS": 600,
    # The bearer token of ``GET /metrics``; None answers 404 there.
    "METRICS_TOKEN": None,
    # The most a notification may hold (``notifications.content``): characters of the title,
    # body and url (title and url never more than their columns, 200 and 500), and bytes of
    # the data as the stream encodes it. The largest notification stays under 80 KB on the
    # wire, far below what a stream buffers for a slow client.
    "MAX_TITLE_LENGTH": 200,
    "MAX_BODY_LENGTH": 5000,
    "MAX_URL_LENGTH": 500,
    "MAX_DATA_BYTES": 8192,
}


@dataclass(frozen=True)
class Action:
    """A button a kind's notifications carry: a label (lazy), and a URL template whose
    fields are the notification's ``data`` keys."""

    label: StrOrPromise
    url: str


@dataclass(frozen=True)
class Kind:
    """A registered kind: its label, whether users may turn it off, the email default, and
    the templates of its title and body (None: its notifications are free text)."""

    name: str
    label: str
    critical: bool = False
    email: bool = False
    # Kept lazy (gettext_lazy), so each rendering translates them into the active language.
    title: StrOrPromise | None = None
    body: StrOrPromise | None = None
    category: str | None = None
    actions: tuple[Action, ...] = ()
    push: bool = False


class NotificationSettings:
    """Typed, lazy access to ``settings.NOTIFICATIONS`` with the defaults above."""

    def _get(self, name: str) -> Any:
        return getattr(settings, "NOTIFICATIONS", {}).get(name, DEFAULTS[name])

    @property
    def HEARTBEAT_SECONDS(self) -> float:
        return float(self._get("HEARTBEAT_SECONDS"))

    @property
    def RETRY_MILLISECONDS(self) -> int:
        return int(self._get("RETRY_MILLISECONDS"))

    @property
    def MAX_CONNECTIONS_PER_USER(self) -> int:
        return int(self._get("MAX_CONNECTIONS_PER_USER"))

    @property
    def ON_LIMIT(self) -> str:
        return str(self._get("ON_LIMIT"))

    @property
    def LIMIT_RETRY_AFTER_SECONDS(self) -> int:
        return int(self._get("LIMIT_RETRY_AFTER_SECONDS"))

    @property
    def SLOW_CLIENT_BUFFER_BYTES(self) -> int:
        return int(self._get("SLOW_CLIENT_BUFFER_BYTES"))

    @property
    def REPLAY_LIMIT(self) -> int:
        return int(self._get("REPLAY_LIMIT"))

    @property
    def POLL_SECONDS(self) -> float:
        return float(self._get("POLL_SECONDS"))

    @property
    def TICKET_LIFETIME_SECONDS(self) -> int:
        return int(self._get("TICKET_LIFETIME_SECONDS"))

    @property
    def REDIS_URL(self) -> str | None:
        return self._get("REDIS_URL") or None

    @property
    def REDIS_PREFIX(self) -> str:
        return str(self._get("REDIS_PREFIX"))

    @property
    def PUBLISH_TIMEOUT_SECONDS(self) -> float:
        return float(self._get("PUBLISH_TIMEOUT_SECONDS"))

    @property
    def ROUTED_FANOUT(self) -> int:
        return int(self._get("ROUTED_FANOUT"))

    @property
    def METRICS_TOKEN(self) -> str | None:
        return self._get("METRICS_TOKEN") or None

    @property
    def STREAM_MIDDLEWARE(self) -> list[str]:
        middleware = self._get("STREAM_MIDDLEWARE")
        if middleware is None:
            cors = apps.is_installed("corsheaders")
            return ["corsheaders.middleware.CorsMiddleware"] if cors else []
        return list(middleware)

    @property
    def KINDS(self) -> dict[str, Kind]:
        """The registered kinds in the order the setting lists them (checks refuse bad ones)."""
        return {
            str(name): _kind(str(name), spec) for name, spec in dict(self._get("KINDS")).items()
        }

    @property
    def CATEGORIES(self) -> dict[str, StrOrPromise]:
        """Every category, name to label: those ``CATEGORIES`` labels in its order, then
        those only kinds name, in the kinds' order."""
        labelled: dict[str, StrOrPromise] = dict(self._get("CATEGORIES"))
        for spec in dict(self._get("KINDS")).values():
            category = spec.get("category")
            if category is not None:
                labelled.setdefault(str(category), str(category))
        return labelled

    def kind(self, name: str) -> Kind | None:
        """Return the registered kind ``name`` (None: not registered), without building
        every kind and translating their labels: each ``notify()`` asks."""
        spec = self._get("KINDS").get(name)
        return None if spec is None else _kind(name, spec)

    def category(self, kind: str) -> str | None:
        """Return the category of ``kind`` (None: none, or not registered), without building
        every kind: each payload asks."""
        category = (self._get("KINDS").get(kind) or {}).get("category")
        return None if category is None else str(category)

    def kinds_of(self, category: str) -> list[str]:
        """Return the kinds of ``category``."""
        return [kind.name for kind in self.KINDS.values() if kind.category == category]

    def templates(self, name: str) -> tuple[StrOrPromise, StrOrPromise | None] | None:
        """Return the title and body templates of kind ``name`` (None: it has no title
        template), without building every kind, nor translating them (they stay lazy)."""
        spec = self._get("KINDS").get(name) or {}
        title = spec.get("title")
        return None if title is None else (title, spec.get("body"))

    @property
    def WEBPUSH(self) -> dict[str, str] | None:
        value = self._get("WEBPUSH")
        return None if not value else {str(k): str(v) for k, v in dict(value).items()}

    @property
    def EMAIL_AFTER_MINUTES(self) -> float:
        return float(self._get("EMAIL_AFTER_MINUTES"))

    @property
    def EMAIL_CLAIM_SECONDS(self) -> float:
        return float(self._get("EMAIL_CLAIM_SECONDS"))

    @property
    def MAX_TITLE_LENGTH(self) -> int:
        return int(self._get("MAX_TITLE_LENGTH"))

    @property
    def MAX_BODY_LENGTH(self) -> int:
        return int(self._get("MAX_BODY_LENGTH"))

    @property
    def MAX_URL_LENGTH(self) -> int:
        return int(self._get("MAX_URL_LENGTH"))

    @property
    def MAX_DATA_BYTES(self) -> int:
        return int(self._get("MAX_DATA_BYTES"))


def _kind(name: str, spec: dict[str, Any]) -> Kind:
    return Kind(
        name=name,
        label=str(spec.get("label") or name),
        critical=bool(spec.get("critical", False)),
        email=bool(spec.get("email", False)),
        title=spec.get("title"),
        body=spec.get("body"),
        category=None if spec.get("category") is None else str(spec["category"]),
        push=bool(spec.get("push", False)),
        actions=tuple(Action(a["label"], str(a["url"])) for a in spec.get("actions", ())),
    )


conf = NotificationSettings()
