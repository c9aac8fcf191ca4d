/**
 * Live notifications in the browser: a small ES module with no third-party dependencies.
 *
 *   import { connect, createApi, enablePush } from "/static/notifications/client.js";
 *   const client = connect({ on: { notification: (n, meta) => ..., status: (s) => ... } });
 *
 * It imports http.js (the API's requests, the words) and re-exports push.js (Web Push, with
 * its service worker push-worker.js), all beside it: serve or copy the four files together.
 *
 * One stream per browser, not per tab: the tab that holds the Web Lock opens the
 * stream and relays every event to the other tabs over a BroadcastChannel. When it
 * closes, the next tab in the lock's queue takes over and resumes from the last event id
 * that every tab tracks, so nothing is lost in the handover. Without Web Locks or
 * BroadcastChannel each tab simply keeps its own stream.
 *
 * The position is the seq the stream has reached: `connected` sets it (its last_seq is where
 * the stream goes on from), each notification moves it, and every reopen sends it as
 * last_event_id. So a stream that drops before any notification arrived still resumes
 * exactly, whether or not the page ever calls seen().
 *
 * Events: "notification" (payload, {toast}), "read", "archived", "unarchived", "snoozed",
 * "unsnoozed", "connected", "resync" (the stream's own, see the contract: each state change
 * carries {ids, unread_count}, and "unarchived" and "unsnoozed" the notifications back in the
 * inbox), "status" ("live" | "reconnecting" | "offline"), "leader" (whether this tab holds the
 * stream), "unauthorized" (the stream answered 401: with the session cookie, the session has
 * ended), and any name passed to tell() by another tab.
 *
 * createApi() calls the HTTP API; enablePush(), disablePush() and pushState() draw and work a
 * page's push switch, and listenForPushClicks() marks read the pushes clicked while the page
 * signs in with a token (push.js says more).
 *
 * Words a user reads (statusLabel(), ApiError's fallback message, PushError's messages) come
 * from Django's JavaScript catalog when the page loaded it, in English otherwise.
 */

import { answerOf, gettext, requester, resolveToken } from "./http.js";

export { ApiError, gettext, interpolate, ngettext, resolveToken } from "./http.js";
export { enablePush, disablePush, pushState, listenForPushClicks, PushError } from "./push.js";

const STREAM_EVENTS = [
  "connected",
  "notification",
  "read",
  "archived",
  "unarchived",
  "snoozed",
  "unsnoozed",
  "resync",
];

/** Open (or join) the browser's stream and return the client. */
export function connect(options = {}) {
  const client = new NotificationClient(options);
  client.start();
  return client;
}

export class NotificationClient {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl] origin of the notifications server; "" is this page's
   * @param {string} [options.eventsPath] the stream, "/api/events/"
   * @param {string} [options.ticketPath] the ticket endpoint, "/api/events/ticket/"
   * @param {string|(() => string|Promise<string>)} [options.getToken] an access JWT of the
   *   embedding site's user, or a function (sync or async) that returns a current one:
   *   switches from the session cookie to stream tickets
   * @param {boolean} [options.withCredentials] send cookies to another origin (CORS)
   * @param {boolean} [options.shareAcrossTabs] one stream per browser (default true)
   * @param {string} [options.name] the lock and channel name; scope it to the user
   * @param {number|null} [options.lastEventId] resume after this seq
   * @param {Object<string, Function>} [options.on] callbacks by event name
   */
  constructor({
    baseUrl = "",
    eventsPath = "/api/events/",
    ticketPath = "/api/events/ticket/",
    getToken = null,
    withCredentials = false,
    shareAcrossTabs = true,
    name = "notifications-stream",
    lastEventId = null,
    on = {},
    maxBackoffMs = 30_000,
    offlineAfterMs = 15_000,
  } = {}) {
    this.baseUrl = baseUrl || globalThis.location?.href;
    this.eventsPath = eventsPath;
    this.ticketPath = ticketPath;
    this.getToken = getToken;
    this.withCredentials = withCredentials;
    this.name = name;
    this.lastEventId = null;
    this.seen(lastEventId);
    this.resumedFrom = null; // the last `connected` event's last_seq
    this.maxBackoffMs = maxBackoffMs;
    this.offlineAfterMs = offlineAfterMs;
    this.shared =
      shareAcrossTabs && "locks" in navigator && typeof BroadcastChannel === "function";
    this.tabId = globalThis.crypto?.randomUUID?.() ?? String(Math.random()).slice(2);
    this.status = null;
    this.isLeader = false;
    this.listeners = new Map();
    this.visibleTabs = new Set(); // other tabs that are visible, for the toast decision
    this.running = false;
    this.attempt = 0;
    this.unauthorized = 0; // 401s in a row
    this.generation = 0;
    this.source = null; // the AbortController of the open stream
    this.timers = { reopen: null, offline: null };
    for (const [event, callback] of Object.entries(on)) this.on(event, callback);

    this._onVisibility = () => this._post({ type: "visibility", visible: isVisible() });
    this._onPageHide = (e) => {
      this.stop();
      this._restoreOnShow = e.persisted;
    };
    this._onPageShow = (e) => {
      if (e.persisted && this._restoreOnShow) this.start();
    };
    this._onOnline = () => this.isLeader && !this._isOpen() && this._open();
    this._onOffline = () => this.isLeader && this._setStatus("offline");
  }

  /** Call ``callback`` on each ``event``; return a function that unsubscribes it. */
  on(event, callback) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(callback);
    return () => this.listeners.get(event)?.delete(callback);
  }

  /** Record that everything up to ``seq`` is known (e.g. from the inbox the page fetched). */
  seen(seq) {
    // 0 is meaningful: "I have seen everything, and there was nothing", so a reconnect
    // replays whatever arrives meanwhile instead of starting at the newest.
    const n = seq === null || seq === undefined ? Number.NaN : Number(seq);
    if (Number.isInteger(n) && n >= 0 && (this.lastEventId === null || n > this.lastEventId)) {
      this.lastEventId = n;
    }
  }

  /** Send a page-defined event to the other tabs (e.g. "deleted"), not to this one. */
  tell(event, data) {
    this._post({ type: "app", event, data });
  }

  start() {
    if (this.running) return;
    this.running = true;
    addEventListener("pagehide", this._onPageHide);
    addEventListener("pageshow", this._onPageShow);
    addEventListener("online", this._onOnline);
    addEventListener("offline", this._onOffline);
    if (!this.shared) {
      this._lead();
      return;
    }
    this.channel = new BroadcastChannel(this.name);
    this.channel.onmessage = (e) => this._onMessage(e.data);
    document.addEventListener("visibilitychange", this._onVisibility);
    // Ask the leader, if any, for the state, and the other tabs for their visibility.
    this._post({ type: "hello", visible: isVisible() });
    this.abort = new AbortController();
    navigator.locks
      .request(this.name, { signal: this.abort.signal }, () => {
        if (!this.running) return undefined;
        this._lead();
        // Hold the lock for as long as this tab runs; the browser frees it if the tab dies.
        return new Promise((resolve) => (this.releaseLock = resolve));
      })
      .catch(() => {}); // AbortError: stopped while still waiting for the lock
  }

  /** Close the stream and leave the other tabs; another tab takes over. */
  stop() {
    if (!this.running) return;
    this.running = false;
    this._post({ type: "bye" });
    removeEventListener("pagehide", this._onPageHide);
    removeEventListener("online", this._onOnline);
    removeEventListener("offline", this._onOffline);
    document.removeEventListener("visibilitychange", this._onVisibility);
    this._closeSource();
    clearTimeout(this.timers.reopen);
    clearTimeout(this.timers.offline);
    this.abort?.abort();
    this.releaseLock?.();
    this.releaseLock = null;
    this.channel?.close();
    this.channel = null;
    this.visibleTabs.clear();
    if (this.isLeader) {
      this.isLeader = false;
      this._emit("leader", false);
    }
  }

  /** Stop for good, including after a return from the back/forward cache. */
  close() {
    this.stop();
    removeEventListener("pageshow", this._onPageShow);
  }

  // --- the leader's stream ---------------------------------------------------------------

  _lead() {
    this.isLeader = true;
    this._emit("leader", true);
    this._post({ type: "leader" });
    this._open();
  }

  async _open() {
    clearTimeout(this.timers.reopen);
    this._closeSource();
    // Minting a ticket awaits: a second _open() meanwhile (back online, a timer) wins.
    const generation = this.generation;
    const current = () => this.running && this.isLeader && generation === this.generation;
    let url;
    try {
      url = await this._streamUrl();
    } catch (error) {
      if (generation !== this.generation) return;
      console.warn("notifications: cannot open the stream:", error);
      this._lost();
      return;
    }
    if (!current()) return;
    // fetch, not EventSource: EventSource hides the status of a refused stream, and each
    // refusal needs its own answer (see _refused). The client reconnects by itself anyway:
    // EventSource stops for good on any non-200 answer, would reuse an expired ticket, and
    // sends Last-Event-ID only once that very EventSource has seen an id, while this tab
    // may know a later one (from the inbox, or from relays).
    const source = new AbortController();
    this.source = source;
    let response;
    try {
      response = await fetch(url, {
        headers: { Accept: "text/event-stream" },
        credentials: this.withCredentials ? "include" : "same-origin",
        cache: "no-store",
        signal: source.signal,
      });
      if (!current()) return;
      if (response.status !== 200) {
        this._closeSource();
        this._refused(response);
        return;
      }
      for await (const { event, data } of serverSentEvents(response.body)) {
        if (!current()) return;
        this._onStreamEvent(event, data);
      }
    } catch (error) {
      if (error?.name !== "AbortError") console.debug("notifications: stream lost:", error);
    }
    if (!current()) return;
    this._closeSource();
    this._lost();
  }

  /**
   * The server refused the stream. 401: the credentials (a ticket lives a minute); with
   * getToken, mint a fresh ticket and reopen at once, but back off if that is refused too.
   * 429: too many streams for this user; wait Retry-After (plus jitter, so the tabs of many
   * users do not return together). Anything else (a proxy's 502...): back off.
   */
  _refused(response) {
    if (response.status === 401) {
      this._emit("unauthorized");
      this.unauthorized += 1;
      if (this.getToken && this.unauthorized === 1) {
        this._open();
        return;
      }
    } else if (response.status === 429) {
      const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
      const wait = 1000 * (Number.isFinite(seconds) && seconds >= 0 ? seconds : 5);
      this._lost(wait + Math.random() * Math.min(wait / 2, 5000));
      return;
    }
    this._lost();
  }

  async _streamUrl() {
    const url = new URL(this.eventsPath, this.baseUrl);
    // In the URL, not a Last-Event-ID header: a header would make a cross-origin open
    // preflighted (one more round trip per connection).
    if (this.lastEventId !== null) url.searchParams.set("last_event_id", this.lastEventId);
    if (this.getToken) url.searchParams.set("token", await this._mintTicket());
    return url.href;
  }

  /** Trade the embedding site's access token for a one-minute, stream-only ticket. */
  async _mintTicket() {
    const token = await resolveToken(this.getToken);
    const response = await fetch(new URL(this.ticketPath, this.baseUrl), {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
      credentials: "omit",
    });
    if (!response.ok) throw new Error(`stream ticket refused: HTTP ${response.status}`);
    return (await response.json()).ticket;
  }

  _onStreamEvent(event, text) {
    if (!STREAM_EVENTS.includes(event)) return;
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      console.warn("notifications: ignoring a malformed %s event", event);
      return;
    }
    if (event === "connected") {
      this.attempt = 0;
      this.unauthorized = 0;
      clearTimeout(this.timers.offline);
      this.timers.offline = null;
      this._setStatus("live");
    }
    if (this._deliver(event, data)) this._post({ type: "event", event, data });
  }

  /** The connection is down: say so, and reopen it after ``delay`` or a backoff. */
  _lost(delay = null) {
    if (!this.running) return;
    const offline = globalThis.navigator?.onLine === false;
    if (offline || this.status === "offline") this._setStatus("offline");
    else this._setStatus("reconnecting");
    if (this.timers.offline === null) {
      this.timers.offline = setTimeout(() => this._setStatus("offline"), this.offlineAfterMs);
    }
    if (delay === null) {
      // Exponential backoff with jitter, so that a server restart is not met by every
      // browser at the same instant; `connected` resets it.
      const ceiling = Math.min(this.maxBackoffMs, 1000 * 2 ** this.attempt);
      this.attempt += 1;
      delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    }
    clearTimeout(this.timers.reopen);
    this.timers.reopen = setTimeout(() => this._open(), delay);
  }

  _isOpen() {
    return this.source !== null;
  }

  _closeSource() {
    this.generation += 1;
    this.source?.abort();
    this.source = null;
  }

  _setStatus(status) {
    if (!this.isLeader || status === this.status) return;
    this.status = status;
    this._emit("status", status);
    this._post({ type: "status", status });
  }

  // --- every tab ---------------------------------------------------------------------------

  /** Hand an event to this tab's callbacks; false for a notification already seen. */
  _deliver(event, data) {
    this._trackPosition(event, data);
    if (event === "notification") {
      // seq has no holes and only grows: one at or below the last seen is a duplicate.
      if (this.lastEventId !== null && data.seq <= this.lastEventId) return false;
      this.seen(data.seq);
      this._emit(event, data, { toast: this._shouldToast() });
      return true;
    }
    this._emit(event, data);
    return true;
  }

  /**
   * Take the stream's position from ``connected`` and ``resync``, in the leader and in the
   * tabs it relays to. ``connected`` comes first: its last_seq is where the stream goes on
   * from, but this tab may already know a later seq (from seen(), while the stream opened),
   * so it only moves the position forward. A ``resync`` with reason unknown_position, which
   * follows it, says the server never issued the seq this tab sent: the stream goes on from
   * its newest, ``connected``'s last_seq, which replaces the higher local position.
   */
  _trackPosition(event, data) {
    if (event === "connected") {
      this.resumedFrom = data.last_seq;
      this.seen(data.last_seq);
    } else if (event === "resync" && data.reason === "unknown_position") {
      this.lastEventId = null;
      this.seen(this.resumedFrom);
    }
  }

  /** Toast in a visible tab; in the leader when no tab is visible (someone must). */
  _shouldToast() {
    if (isVisible()) return true;
    return this.isLeader && this.visibleTabs.size === 0;
  }

  _onMessage(message) {
    const from = message.from;
    switch (message.type) {
      case "hello":
        this._trackVisibility(from, message.visible);
        this._post({ type: "visibility", visible: isVisible() });
        if (this.isLeader) {
          this._post({ type: "state", status: this.status, lastEventId: this.lastEventId });
        }
        break;
      case "visibility":
        this._trackVisibility(from, message.visible);
        break;
      case "bye":
        this.visibleTabs.delete(from);
        break;
      case "state":
      case "status":
        if (!this.isLeader) {
          if (message.lastEventId !== undefined) this.seen(message.lastEventId);
          if (message.status && message.status !== this.status) {
            this.status = message.status;
            this._emit("status", message.status);
          }
        }
        break;
      case "event":
        if (!this.isLeader) this._deliver(message.event, message.data);
        break;
      case "app":
        this._emit(message.event, message.data);
        break;
    }
  }

  _trackVisibility(tab, visible) {
    if (visible) this.visibleTabs.add(tab);
    else this.visibleTabs.delete(tab);
  }

  _post(message) {
    try {
      this.channel?.postMessage({ ...message, from: this.tabId });
    } catch (error) {
      console.warn("notifications: cannot relay to other tabs:", error);
    }
  }

  _emit(event, ...args) {
    for (const callback of this.listeners.get(event) ?? []) {
      try {
        callback(...args);
      } catch (error) {
        console.error(`notifications: a "${event}" callback failed:`, error);
      }
    }
  }
}

/**
 * Yield the events of a text/event-stream body as {event, data}, per the HTML standard's
 * parsing rules (any line ending, comments, a space after the colon). ``id:`` and
 * ``retry:`` are left out: every notification's data carries its seq, and the client
 * runs its own backoff.
 */
export async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
      const lines = buffer.split(/\r\n|\r(?!$)|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let text = colon === -1 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function isVisible() {
  return globalThis.document?.visibilityState === "visible";
}

/** The connection's state in words: a "status" event's value, or "connecting" before one. */
export function statusLabel(status) {
  const labels = {
    connecting: gettext("Connecting…"),
    live: gettext("Live"),
    reconnecting: gettext("Reconnecting…"),
    offline: gettext("Offline"),
  };
  return labels[status] ?? status;
}

/**
 * The HTTP API: the inbox (filtered by state and category), the unread counts, mark read,
 * archive, snooze, delete; one notification at a time or many in one request.
 *
 * Same-origin pages use the session cookie and send Django's CSRF token (from the
 * ``csrftoken`` cookie unless ``csrfToken`` is given); other sites pass ``getToken``, as
 * connect() takes it: an access token, or a function (sync or async) that returns one.
 */
export function createApi({
  baseUrl = "",
  apiPath = "/api/notifications/",
  getToken = null,
  withCredentials = false,
  csrfToken = null,
} = {}) {
  const base = new URL(apiPath, baseUrl || globalThis.location?.href);
  const send = requester({ getToken, withCredentials, csrfToken });
  const request = async (url, options = {}) => answerOf(await send(url, options));
  const at = (path) => new URL(path, base);
  const post = (path, options = {}) => request(at(path), { method: "POST", ...options });
  // One request for many: {ids: [the ones it changed], unread_count}.
  const many = (path) => (ids) => post(path, { body: { ids: [...ids] } });
  return {
    /**
     * The newest page: {next, previous, results}; follow ``next`` with more(). Archived and
     * snoozed notifications are left out unless ``archived`` or ``snoozed`` asks for them.
     */
    list({
      unread = false,
      archived = false,
      snoozed = false,
      category = null,
      pageSize = null,
    } = {}) {
      const url = at("");
      if (unread) url.searchParams.set("unread", "true");
      if (archived) url.searchParams.set("archived", "true");
      if (snoozed) url.searchParams.set("snoozed", "true");
      if (category) url.searchParams.set("category", category);
      if (pageSize) url.searchParams.set("page_size", pageSize);
      return request(url);
    },
    more: (nextUrl) => request(new URL(nextUrl, base)),
    unreadCount: async () => (await request(at("unread-count/"))).unread_count,
    /** {unread_count, by_category: {category: count}}. */
    unreadCounts: () => request(at("unread-count/")),
    markRead: (id, options = {}) => post(`${id}/read/`, options),
    markAllRead: () => post("read-all/"),
    markManyRead: many("read/"),
    archive: (id) => post(`${id}/archive/`),
    unarchive: (id) => post(`${id}/unarchive/`),
    archiveMany: many("archive/"),
    unarchiveMany: many("unarchive/"),
    /** Hide it until ``until`` (a Date, or an ISO 8601 string with its zone). */
    snooze: (id, until) => {
      const when = until instanceof Date ? until.toISOString() : until;
      return post(`${id}/snooze/`, { body: { until: when } });
    },
    unsnooze: (id) => post(`${id}/unsnooze/`),
    remove: (id) => request(at(`${id}/`), { method: "DELETE" }),
  };
}
