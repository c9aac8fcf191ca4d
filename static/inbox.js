// The inbox page: the list, the bell, the toasts and the connection indicator, all driven
// by the notifications client (stream) and its API helper. Every user-supplied string
// reaches the page through textContent or an attribute, never through HTML. Its words come
// from Django's JavaScript catalog (loaded before it), its dates and numbers from Intl, both
// in the page's language (<html lang>).
import {
  ApiError,
  connect,
  createApi,
  gettext,
  interpolate,
  ngettext,
  statusLabel,
} from "./notifications/client.js";

const config = JSON.parse(document.getElementById("inbox-config").textContent);
const $ = (id) => document.getElementById(id);
const list = $("list");
const badge = $("badge");
const bell = $("bell");
const summary = $("summary");
const markAllButton = $("mark-all");
const loadMoreButton = $("load-more");
const emptyState = $("empty");
const loadError = $("load-error");
const toasts = $("toasts");
const conn = $("conn");
const pageTitle = document.title;

const locale = document.documentElement.lang || undefined;
const numberFormat = new Intl.NumberFormat(locale);
const relativeFormat = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
const absoluteFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
const number = (n) => numberFormat.format(n);

const api = createApi({ apiPath: config.apiPath });
const items = new Map(); // id -> {data, el}
let nextPage = null;
let loaded = false;
let unread = 0;
let countVersion = 0;
let countTimer = null;

// --- the unread count -------------------------------------------------------------------
// The stream's `connected` and `read` events carry the true count; a new notification bumps
// it at once, and a debounced API read corrects any overlap (a replayed notification that
// `connected` already counted, a read that crossed a notification on the wire).

function setCount(n) {
  countVersion += 1;
  unread = Math.max(0, n);
  renderCount();
}

function bumpCount(delta) {
  setCount(unread + delta);
}

function refreshCountSoon(delay = 600) {
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    const version = countVersion;
    try {
      const n = await api.unreadCount();
      if (version === countVersion) setCount(n);
    } catch {
      // The stream's next event will set it.
    }
  }, delay);
}

function renderCount() {
  badge.textContent = unread > 99 ? `${number(99)}+` : number(unread);
  badge.hidden = unread === 0;
  bell.dataset.count = String(unread);
  bell.setAttribute(
    "aria-label",
    unread
      ? interpolate(
          ngettext("Notifications, %(count)s unread", "Notifications, %(count)s unread", unread),
          { count: number(unread) },
          true,
        )
      : gettext("Notifications, none unread"),
  );
  markAllButton.disabled = unread === 0;
  document.title = unread ? `(${number(unread)}) ${pageTitle}` : pageTitle;
  renderSummary();
}

function renderSummary() {
  if (!loaded) return;
  if (items.size === 0) summary.textContent = gettext("Nothing here yet");
  else if (unread === 0) summary.textContent = gettext("You're all caught up");
  else {
    summary.textContent = interpolate(
      ngettext("%(count)s unread", "%(count)s unread", unread),
      { count: number(unread) },
      true,
    );
  }
  emptyState.hidden = items.size !== 0;
}

// --- icons ------------------------------------------------------------------------------

const ICONS = {
  bell: "M12 3a6 6 0 0 0-6 6v3.6l-1.7 3a1 1 0 0 0 .9 1.4h13.6a1 1 0 0 0 .9-1.4l-1.7-3V9a6 6 0 0 0-6-6Zm-2.5 16.5a2.5 2.5 0 0 0 5 0",
  box: "M3.5 7.5 12 3l8.5 4.5v9L12 21l-8.5-4.5v-9Zm0 0L12 12m0 0 8.5-4.5M12 12v9",
  truck: "M2.5 6h11v10h-11zM13.5 9.5h4l3 3.5V16h-7M7 18.5a1.8 1.8 0 1 0 0-.1m10 .1a1.8 1.8 0 1 0 0-.1",
  check: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18Zm-4-9 3 3 5-6",
  cross: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18ZM9 9l6 6m0-6-6 6",
  card: "M3 6.5h18v11H3zM3 10h18M7 14.5h4",
  alert: "M12 3.5 2.5 20h19L12 3.5ZM12 10v4.5m0 2.5v.5",
};

/** Pick an icon and a colour for a kind such as "order.shipped" or "warning". */
function look(kind) {
  const [family, detail] = String(kind).split(".", 2);
  if (family === "order") {
    return (
      {
        paid: ["card", "accent"],
        shipped: ["truck", "accent"],
        delivered: ["check", "success"],
        cancelled: ["cross", "danger"],
      }[detail] ?? ["box", "accent"]
    );
  }
  return (
    {
      success: ["check", "success"],
      warning: ["alert", "warning"],
      error: ["alert", "danger"],
      alert: ["alert", "danger"],
    }[family] ?? ["bell", "neutral"]
  );
}

function paintIcon(holder, kind) {
  const [name, tone] = look(kind);
  holder.dataset.tone = tone;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.8");
  path.setAttribute("stroke-linecap", "round");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  holder.replaceChildren(svg);
}

// The families of kinds this site sends, in the reader's words; another shows its own name.
const FAMILIES = {
  order: gettext("Order"),
  account: gettext("Account"),
  info: gettext("Info"),
  success: gettext("Success"),
  warning: gettext("Warning"),
  error: gettext("Error"),
  alert: gettext("Alert"),
};

/** "order.shipped" -> "Order": the title already says what happened. */
function kindLabel(kind) {
  const family = String(kind).split(".", 1)[0];
  if (Object.hasOwn(FAMILIES, family)) return FAMILIES[family];
  return family ? family[0].toUpperCase() + family.slice(1) : "";
}

// --- text helpers -----------------------------------------------------------------------

/**
 * A link only to a path on this site or an absolute http(s) URL, as the server stores them
 * (notifications/content.py); anything else stays text, even if stored before those rules:
 * `javascript:`, and `//evil.example` or `/\evil.example`, which a browser reads as another site.
 */
function safeUrl(url) {
  if (!url || typeof url !== "string") return null;
  if (!/^(\/(?![/\\])|https?:\/\/)/i.test(url) || /[\\\p{C}\p{Z}]/u.test(url)) return null;
  try {
    const parsed = new URL(url, location.href);
    return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

const STEPS = [
  [60, "second"],
  [60, "minute"],
  [24, "hour"],
  [7, "day"],
  [4.35, "week"],
  [12, "month"],
  [Number.POSITIVE_INFINITY, "year"],
];

/** "3 hours ago", "yesterday", "now": in the page's language, by Intl. */
function relativeTime(iso) {
  let value = (new Date(iso).getTime() - Date.now()) / 1000;
  if (Math.abs(value) < 45) return relativeFormat.format(0, "second");
  for (const [size, unit] of STEPS) {
    if (Math.abs(value) < size) return relativeFormat.format(Math.round(value), unit);
    value /= size;
  }
  return "";
}

function fillTitle(root, n) {
  const link = root.querySelector(".title-link");
  const text = root.querySelector(".title-text");
  const href = safeUrl(n.url);
  link.hidden = !href;
  text.hidden = Boolean(href);
  if (href) {
    link.href = href;
    link.textContent = n.title;
    text.textContent = "";
  } else {
    link.removeAttribute("href");
    link.textContent = "";
    text.textContent = n.title;
  }
}

// --- the list ---------------------------------------------------------------------------

function clearSkeleton() {
  for (const el of list.querySelectorAll(".skeleton")) el.remove();
  list.setAttribute("aria-busy", "false");
}

function fillItem(el, n) {
  el.classList.toggle("unread", !n.read);
  el.dataset.id = n.id;
  el.dataset.seq = n.seq;
  paintIcon(el.querySelector(".icon"), n.kind);
  fillTitle(el, n);
  el.querySelector(".unread-label").hidden = n.read;
  const body = el.querySelector(".body");
  body.textContent = n.body;
  body.hidden = !n.body;
  const time = el.querySelector("time");
  time.dateTime = n.created_at;
  time.title = absoluteFormat.format(new Date(n.created_at));
  time.textContent = relativeTime(n.created_at);
  el.querySelector(".kind").textContent = kindLabel(n.kind);
  const read = el.querySelector('[data-action="read"]');
  read.setAttribute("aria-label", interpolate(gettext("Mark “%(title)s” read"), n, true));
  read.title = gettext("Mark read");
  read.hidden = n.read;
  const remove = el.querySelector('[data-action="delete"]');
  remove.setAttribute("aria-label", interpolate(gettext("Delete “%(title)s”"), n, true));
  remove.title = gettext("Delete");
}

/** Add or update a notification, keeping the list newest first; true if it was new. */
function upsert(n) {
  const known = items.get(n.id);
  if (known) {
    known.data = n;
    fillItem(known.el, n);
    return false;
  }
  clearSkeleton();
  const el = $("item-template").content.firstElementChild.cloneNode(true);
  fillItem(el, n);
  items.set(n.id, { data: n, el });
  const after = [...list.children].find((child) => Number(child.dataset.seq) < n.seq);
  list.insertBefore(el, after ?? null);
  renderSummary();
  return true;
}

function setRead(id, read) {
  const item = items.get(id);
  if (!item || item.data.read === read) return false;
  item.data = { ...item.data, read };
  fillItem(item.el, item.data);
  return true;
}

function removeItem(id) {
  const item = items.get(id);
  if (!item) return null;
  items.delete(id);
  item.el.remove();
  renderSummary();
  return item;
}

async function loadFirst() {
  loadError.hidden = true;
  try {
    const page = await api.list();
    for (const { el } of items.values()) el.remove();
    items.clear();
    clearSkeleton();
    for (const n of page.results) upsert(n);
    nextPage = page.next;
    // Anything newer than this page arrives on the stream: a tab that takes the stream
    // over later resumes from here.
    client.seen(page.results.length ? page.results[0].seq : 0);
    loaded = true;
    loadMoreButton.hidden = !nextPage;
    renderCount();
    refreshCountSoon(0);
  } catch (error) {
    clearSkeleton();
    loadError.textContent = failed(
      gettext("Your notifications could not be loaded (%(reason)s)."),
      error,
    );
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn btn-secondary btn-small";
    retry.textContent = gettext("Try again");
    retry.addEventListener("click", loadFirst);
    loadError.append(retry);
    loadError.hidden = false;
  }
}

loadMoreButton.addEventListener("click", async () => {
  if (!nextPage) return;
  loadMoreButton.disabled = true;
  loadMoreButton.textContent = gettext("Loading…");
  try {
    const page = await api.more(nextPage);
    for (const n of page.results) upsert(n);
    nextPage = page.next;
  } catch (error) {
    flash(failed(gettext("Could not load more: %(reason)s"), error));
  } finally {
    loadMoreButton.disabled = false;
    loadMoreButton.textContent = gettext("Load older notifications");
    loadMoreButton.hidden = !nextPage;
  }
});

// --- actions ----------------------------------------------------------------------------

async function markRead(id) {
  if (!setRead(id, true)) return;
  bumpCount(-1);
  try {
    const result = await api.markRead(id);
    setCount(result.unread_count);
  } catch (error) {
    setRead(id, false);
    bumpCount(1);
    flash(failed(gettext("Could not mark it read: %(reason)s"), error));
  }
}

async function markAllRead() {
  const changed = [...items.values()].filter(({ data }) => !data.read).map(({ data }) => data.id);
  for (const id of changed) setRead(id, true);
  const before = unread;
  setCount(0);
  try {
    const result = await api.markAllRead();
    setCount(result.unread_count);
  } catch (error) {
    for (const id of changed) setRead(id, false);
    setCount(before);
    flash(failed(gettext("Could not mark all read: %(reason)s"), error));
  }
}

async function remove(id) {
  const item = items.get(id);
  if (!item) return;
  // Keep keyboard users in place: focus moves to the next notification, or the heading.
  const neighbour = item.el.nextElementSibling ?? item.el.previousElementSibling;
  removeItem(id);
  (neighbour?.querySelector("button:not([hidden])") ?? $("inbox")).focus();
  if (!item.data.read) bumpCount(-1);
  try {
    await api.remove(id);
    client.tell("deleted", { id });
  } catch (error) {
    if (error.status !== 404) {
      upsert(item.data);
      if (!item.data.read) bumpCount(1);
      flash(failed(gettext("Could not delete it: %(reason)s"), error));
    }
  }
}

list.addEventListener("click", (e) => {
  const el = e.target.closest(".item");
  if (!el) return;
  const id = Number(el.dataset.id);
  const button = e.target.closest("button[data-action]");
  if (button?.dataset.action === "read") markRead(id);
  else if (button?.dataset.action === "delete") remove(id);
  else if (e.target.closest(".title-link")) followed(id);
});

markAllButton.addEventListener("click", markAllRead);

/** Opening a notification's link marks it read; keepalive lets the request outlive the page. */
function followed(id) {
  if (items.get(id)?.data.read === false) {
    setRead(id, true);
    bumpCount(-1);
    api.markRead(id, { keepalive: true }).catch(() => {});
  }
}

// --- toasts -----------------------------------------------------------------------------

const TOAST_MS = 7000;
const MAX_TOASTS = 4;

function showToast(n) {
  const el = $("toast-template").content.firstElementChild.cloneNode(true);
  el.dataset.id = n.id;
  paintIcon(el.querySelector(".icon"), n.kind);
  fillTitle(el, n);
  const body = el.querySelector(".toast-body");
  body.textContent = n.body;
  body.hidden = !n.body;
  el.querySelector(".toast-close").addEventListener("click", () => dismiss(el));
  el.querySelector(".title-link").addEventListener("click", () => followed(n.id));
  // Hovering or focusing a toast keeps it: nobody should have to race a timer.
  let timer = setTimeout(() => dismiss(el), TOAST_MS);
  const hold = () => clearTimeout(timer);
  const release = () => {
    clearTimeout(timer);
    timer = setTimeout(() => dismiss(el), TOAST_MS / 2);
  };
  el.addEventListener("mouseenter", hold);
  el.addEventListener("focusin", hold);
  el.addEventListener("mouseleave", release);
  el.addEventListener("focusout", release);
  toasts.append(el);
  while (toasts.children.length > MAX_TOASTS) toasts.firstElementChild.remove();
}

function dismiss(el) {
  if (el.classList.contains("leaving")) return;
  el.classList.add("leaving");
  const done = () => el.remove();
  el.addEventListener("animationend", done, { once: true });
  setTimeout(done, 400); // reduced motion: no animation, no animationend
}

/** A short message for a failed action, in the same live region as the toasts. */
function flash(message) {
  showToast({ id: 0, kind: "error", title: message, body: "", url: "" });
}

/** ``format`` (translated, with a "%(reason)s") filled with the error's message. */
function failed(format, error) {
  return interpolate(format, { reason: error.message }, true);
}

// --- the stream -------------------------------------------------------------------------

function showStatus(status) {
  conn.dataset.state = status;
  conn.querySelector(".conn-label").textContent = statusLabel(status);
  conn.title =
    status === "live"
      ? gettext("Live: new notifications appear instantly")
      : gettext("Not connected: missed notifications arrive when the connection is back");
}

/** The session has ended (logged out, in another tab too): let the log-in page say so. */
function reloadIfLoggedOut() {
  api.unreadCount().catch((error) => {
    if (error.status === 401 || error.status === 403) location.reload();
  });
}

const client = connect({
  // Scoped to the user, so tabs of an earlier log-in never share this tab's stream.
  name: `notifications-stream:${config.userId}`,
  eventsPath: config.eventsPath,
  on: {
    connected(data) {
      // The session now belongs to someone else (a log-in in another tab): start over.
      if (data.user_id !== config.userId) location.reload();
      setCount(data.unread_count);
    },
    notification(n, { toast }) {
      const isNew = upsert(n);
      if (isNew) items.get(n.id).el.classList.add("fresh");
      if (isNew && !n.read) {
        bumpCount(1);
        badge.classList.remove("bump");
        void badge.offsetWidth; // restart the animation
        badge.classList.add("bump");
        refreshCountSoon();
      }
      if (isNew && toast) showToast(n);
    },
    read(data) {
      for (const id of data.ids ?? []) setRead(id, true);
      for (const id of data.unread_ids ?? []) setRead(id, false);
      setCount(data.unread_count);
    },
    resync() {
      loadFirst();
    },
    deleted({ id }) {
      removeItem(id);
    },
    status(status) {
      showStatus(status);
      // A closed session may also look like a dead connection.
      if (status === "offline") reloadIfLoggedOut();
    },
    unauthorized() {
      reloadIfLoggedOut();
    },
    leader(isLeader) {
      document.documentElement.dataset.streamLeader = String(isLeader);
    },
  },
});

// --- preferences ------------------------------------------------------------------------
// A switch per kind and channel, saved as soon as it flips; a refused save flips it back.
// Critical kinds are shown locked: the server refuses to turn them off anyway.

const prefRows = $("prefs-rows");
const prefStatus = $("prefs-status");
const languageForm = $("language-form");
const languageSelect = $("language");

// Each switch's name for screen readers: the kind's label (from the server) and the channel.
const SWITCH_NAMES = {
  in_app: [gettext("%(kind)s in the app"), gettext("%(kind)s in the app (required)")],
  email: [gettext("%(kind)s by email"), gettext("%(kind)s by email (required)")],
};

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function preferencesRequest(method, body) {
  const response = await fetch(config.preferencesPath, {
    method,
    credentials: "same-origin",
    headers: {
      Accept: "application/json",
      ...(body ? { "Content-Type": "application/json", "X-CSRFToken": csrfToken() } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.detail);
  return data;
}

function renderPreferences(kinds) {
  prefRows.replaceChildren();
  for (const pref of kinds) {
    const row = $("pref-template").content.firstElementChild.cloneNode(true);
    row.dataset.kind = pref.kind;
    row.querySelector(".pref-label").textContent = pref.label;
    row.querySelector(".pref-lock").hidden = !pref.critical;
    for (const input of row.querySelectorAll("input[data-switch]")) {
      const name = SWITCH_NAMES[input.dataset.switch][Number(pref.critical)];
      input.checked = pref[input.dataset.switch];
      input.disabled = pref.critical;
      input.closest(".switch").querySelector(".switch-name").textContent = interpolate(
        name,
        { kind: pref.label },
        true,
      );
      if (pref.critical) {
        input.closest(".switch").title = gettext("Required: this cannot be turned off");
      }
    }
    prefRows.append(row);
  }
  $("prefs-table").hidden = kinds.length === 0;
  $("prefs-empty").hidden = kinds.length !== 0;
}

/** Show the user's language (null: the browser's) and let them change it. */
function renderLanguage(language) {
  languageSelect.value = language ?? "";
  languageForm.dataset.saved = languageSelect.value;
  for (const control of languageForm.elements) control.disabled = false;
}

async function loadPreferences() {
  try {
    const data = await preferencesRequest("GET");
    renderPreferences(data.kinds);
    renderLanguage(data.language);
  } catch (error) {
    $("prefs-error").textContent = failed(
      gettext("Your preferences could not be loaded (%(reason)s)."),
      error,
    );
    $("prefs-error").hidden = false;
  }
}

prefRows.addEventListener("change", async (e) => {
  const input = e.target.closest("input[data-switch]");
  if (!input) return;
  const kind = input.closest(".pref").dataset.kind;
  const value = input.checked;
  prefStatus.textContent = gettext("Saving…");
  try {
    await preferencesRequest("PATCH", { [kind]: { [input.dataset.switch]: value } });
    prefStatus.textContent = gettext("Saved");
  } catch (error) {
    input.checked = !value;
    prefStatus.textContent = "";
    flash(failed(gettext("Could not save: %(reason)s"), error));
  }
});

// A new language is saved, then the page reloads to be drawn in it: its words, the catalog,
// and <html lang dir> all come from the server. Applied with a button, not on each change of
// the list, so that browsing the list from the keyboard never reloads the page under it.
languageForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  if (languageSelect.value === languageForm.dataset.saved) return;
  prefStatus.textContent = gettext("Saving…");
  try {
    await preferencesRequest("PATCH", { language: languageSelect.value || null });
    location.reload();
  } catch (error) {
    languageSelect.value = languageForm.dataset.saved;
    prefStatus.textContent = "";
    flash(failed(gettext("Could not save: %(reason)s"), error));
  }
});

loadFirst();
loadPreferences();
setInterval(() => {
  for (const { data, el } of items.values()) {
    el.querySelector("time").textContent = relativeTime(data.created_at);
  }
}, 30_000);
