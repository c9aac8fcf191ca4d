// The inbox page: tabs (all, one per category, snoozed, archived), the list, the bell, the
// toasts and the connection indicator, all driven by the notifications client (stream) and
// its API helper; each notification can be archived, snoozed, opened through its actions,
// selected for bulk changes, from the mouse or the keyboard. The preferences panel sets the
// language, each kind's channels (in the app, email, push) and Web Push for this browser.
// Every user-supplied string reaches the page through textContent or an attribute, never
// through HTML. Its words come from Django's JavaScript catalog (loaded before it), its dates
// and numbers from Intl, both in the page's language (<html lang>).
import {
  connect,
  createApi,
  disablePush,
  enablePush,
  gettext,
  interpolate,
  listenForPushClicks,
  ngettext,
  pushState,
  statusLabel,
} from "./notifications/client.js";
import { answerOf, requester } from "./notifications/http.js";

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
const tabs = [...document.querySelectorAll('#tabs [role="tab"]')];
const pageTitle = document.title;

const locale = document.documentElement.lang || undefined;
const numberFormat = new Intl.NumberFormat(locale);
const relativeFormat = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
const absoluteFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
const number = (n) => numberFormat.format(n);

const api = createApi({ apiPath: config.apiPath });
const items = new Map(); // id -> {data, el}, the current tab's
const selected = new Set(); // ids
let currentTab = tabs.find((tab) => tab.getAttribute("aria-selected") === "true") ?? tabs[0];
let nextPage = null;
let loaded = false;
let listVersion = 0;
let unread = 0;
let byCategory = {};
let countVersion = 0;
let countRequest = 0;
let countTimer = null;
let reloadTimer = null;

// --- the unread counts ------------------------------------------------------------------
// The stream's events carry the true total; a new notification bumps it at once, and a
// debounced API read corrects any overlap (a replayed notification that `connected` already
// counted, a read that crossed a notification on the wire) and gives each category's count.

function setCount(n) {
  countVersion += 1;
  unread = Math.max(0, n);
  renderCount();
}

function bumpCount(delta) {
  if (delta) setCount(unread + delta);
}

/** Ask for every count after a change settles; an answer older than the stream's is dropped. */
function refreshCountsSoon(delay = 400) {
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    const version = countVersion;
    const request = ++countRequest;
    try {
      const counts = await api.unreadCounts();
      if (request !== countRequest) return;
      byCategory = counts.by_category ?? {};
      if (version === countVersion) setCount(counts.unread_count);
      else renderTabCounts();
    } catch {
      // The stream's next event asks again.
    }
  }, delay);
}

/** "3 unread", by the language's plural rule. */
function unreadWords(count) {
  const format = ngettext("%(count)s unread", "%(count)s unread", count);
  return interpolate(format, { count: number(count) }, true);
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
  renderTabCounts();
  renderSummary();
}

/** Each tab's unread count: the total on "All", the category's on its own tab. */
function renderTabCounts() {
  for (const tab of tabs) {
    const shown = tab.querySelector(".tab-count");
    if (!shown) continue; // snoozed and archived notifications are read
    const count = tab.dataset.tab === "all" ? unread : (byCategory[tab.dataset.category] ?? 0);
    shown.textContent = count > 99 ? `${number(99)}+` : number(count);
    shown.hidden = count === 0;
    tab.querySelector(".tab-unread").textContent = count ? unreadWords(count) : "";
  }
}

function renderSummary() {
  if (!loaded) return;
  if (items.size === 0) summary.textContent = gettext("Nothing here yet");
  else if (unread === 0) summary.textContent = gettext("You're all caught up");
  else summary.textContent = unreadWords(unread);
  emptyState.hidden = items.size !== 0;
  for (const text of emptyState.querySelectorAll(".empty-text")) {
    text.hidden = text.dataset.for !== currentTab.dataset.tab;
  }
  renderSelection();
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
  clock: "M12 21a8 8 0 1 0 0-16 8 8 0 0 0 0 16Zm0-11.5V13l2.5 2",
  archive: "M3.5 4.5h17v4h-17zM5 8.5V19a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1V8.5M10 12.5h4",
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
      snoozed: ["clock", "accent"],
      archived: ["archive", "success"],
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

/** The notification's actions as links (only to http(s) or this site), in a row or a toast. */
function fillLinks(holder, n) {
  holder.replaceChildren();
  for (const action of n.actions ?? []) {
    const href = safeUrl(action.url);
    if (!href) continue;
    const link = document.createElement("a");
    link.className = "btn btn-secondary btn-small";
    link.href = href;
    link.textContent = action.label;
    if (new URL(href).origin !== location.origin) link.rel = "noopener noreferrer";
    holder.append(link);
  }
  holder.hidden = holder.childElementCount === 0;
}

// --- which notifications a tab lists ----------------------------------------------------

const isSnoozed = (n) => Boolean(n.snoozed_until) && new Date(n.snoozed_until) > Date.now();
const tabIs = (name) => currentTab.dataset.tab === name;

/** Whether ``n`` belongs in the current tab, by its state and category. */
function belongs(n) {
  switch (currentTab.dataset.tab) {
    case "archived":
      return Boolean(n.archived);
    case "snoozed":
      return isSnoozed(n) && !n.archived;
    case "category":
      return !n.archived && !isSnoozed(n) && n.category === currentTab.dataset.category;
    default:
      return !n.archived && !isSnoozed(n);
  }
}

/** The current tab's filter of the API's list. */
function tabFilter() {
  if (tabIs("archived")) return { archived: true };
  if (tabIs("snoozed")) return { snoozed: true };
  if (tabIs("category")) return { category: currentTab.dataset.category };
  return {};
}

// --- the list ---------------------------------------------------------------------------

// When a snooze ends: "2:40 PM" an hour from now, "Mon, Dec 7, 9:00 AM" days ahead.
const timeFormat = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(locale, {
  weekday: "short",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});

function clearSkeleton() {
  for (const el of list.querySelectorAll(".skeleton")) el.remove();
  list.setAttribute("aria-busy", "false");
}

/** Name each button of a row after its notification, show those its state allows. */
function fillButtons(el, n) {
  const snoozed = isSnoozed(n);
  const buttons = {
    read: [gettext("Mark “%(title)s” read"), gettext("Mark read"), n.read],
    archive: [gettext("Archive “%(title)s”"), gettext("Archive"), n.archived],
    unarchive: [gettext("Move “%(title)s” to the inbox"), gettext("Move to inbox"), !n.archived],
    snooze: [gettext("Snooze “%(title)s”"), gettext("Snooze"), n.archived || snoozed],
    unsnooze: [gettext("Unsnooze “%(title)s”"), gettext("Unsnooze"), !snoozed],
    delete: [gettext("Delete “%(title)s”"), gettext("Delete"), false],
  };
  for (const [action, [name, title, hidden]] of Object.entries(buttons)) {
    const button = el.querySelector(`[data-action="${action}"]`);
    button.setAttribute("aria-label", interpolate(name, n, true));
    button.title = title;
    button.hidden = hidden;
  }
  const box = el.querySelector(".select-box");
  box.setAttribute("aria-label", interpolate(gettext("Select “%(title)s”"), n, true));
  box.checked = selected.has(n.id);
  el.classList.toggle("selected", box.checked);
}

/** "Snoozed until Mon, Dec 7, 9:00 AM". */
function snoozedUntil(date) {
  return interpolate(gettext("Snoozed until %(time)s"), { time: dayFormat.format(date) }, true);
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
  fillLinks(el.querySelector(".links"), n);
  const time = el.querySelector("time");
  time.dateTime = n.created_at;
  time.title = absoluteFormat.format(new Date(n.created_at));
  time.textContent = relativeTime(n.created_at);
  el.querySelector(".kind").textContent = kindLabel(n.kind);
  const until = el.querySelector(".snoozed-until");
  until.hidden = !isSnoozed(n);
  until.textContent = until.hidden ? "" : snoozedUntil(new Date(n.snoozed_until));
  fillButtons(el, n);
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
  syncTabStops();
  renderSummary();
  return true;
}

/** Show ``n`` in the current tab if it belongs there, or take it out. */
function place(n) {
  if (belongs(n)) upsert(n);
  else removeItem(n.id);
}

function setRead(id, read) {
  const item = items.get(id);
  if (!item || item.data.read === read) return false;
  item.data = { ...item.data, read };
  fillItem(item.el, item.data);
  return true;
}

/**
 * Take a notification out of the list. Keyboard users stay in place: when focus was in its
 * row, it moves to the next notification, or the previous, or the list's tab.
 */
function removeItem(id) {
  const item = items.get(id);
  if (!item) return null;
  const hadFocus = item.el.contains(document.activeElement);
  const neighbour = item.el.nextElementSibling ?? item.el.previousElementSibling;
  items.delete(id);
  selected.delete(id);
  item.el.remove();
  syncTabStops();
  if (hadFocus) (neighbour ?? currentTab).focus();
  renderSummary();
  return item;
}

function clearItems() {
  for (const { el } of items.values()) el.remove();
  items.clear();
}

/** One row is the list's tab stop (the focused one, or the first): the others are -1. */
function syncTabStops() {
  const rows = [...items.values()].map(({ el }) => el);
  const current = rows.find((row) => row.tabIndex === 0) ?? rows[0];
  for (const row of rows) row.tabIndex = row === current ? 0 : -1;
}

list.addEventListener("focusin", (e) => {
  const row = e.target.closest(".item");
  if (!row || row.tabIndex === 0) return;
  for (const { el } of items.values()) el.tabIndex = el === row ? 0 : -1;
});

/** Load the current tab's first page; an answer for a tab left meanwhile is dropped. */
async function loadFirst() {
  const version = ++listVersion;
  const tab = currentTab;
  loadError.hidden = true;
  list.setAttribute("aria-busy", "true");
  try {
    const page = await api.list(tabFilter());
    if (version !== listVersion) return;
    // Rows still listed stay (with their focus and selection), refreshed; the others go.
    const listed = new Set(page.results.map((n) => n.id));
    for (const id of [...items.keys()]) if (!listed.has(id)) removeItem(id);
    clearSkeleton();
    for (const n of page.results) upsert(n);
    nextPage = page.next;
    // Anything newer than this page arrives on the stream: a tab that takes the stream
    // over later resumes from here. Only the unfiltered list knows the newest.
    if (tab.dataset.tab === "all") client.seen(page.results.length ? page.results[0].seq : 0);
    loaded = true;
    loadMoreButton.hidden = !nextPage;
    renderCount();
    refreshCountsSoon(0);
  } catch (error) {
    if (version !== listVersion) return;
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

/** Reload the current tab once a burst of changes it cannot follow from events settles. */
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadFirst, 300);
}

loadMoreButton.addEventListener("click", async () => {
  if (!nextPage) return;
  const version = listVersion;
  loadMoreButton.disabled = true;
  loadMoreButton.textContent = gettext("Loading…");
  try {
    const page = await api.more(nextPage);
    if (version !== listVersion) return;
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

// --- tabs -------------------------------------------------------------------------------

function selectTab(tab) {
  if (tab === currentTab) return;
  currentTab = tab;
  for (const each of tabs) {
    const chosen = each === tab;
    each.setAttribute("aria-selected", String(chosen));
    each.tabIndex = chosen ? 0 : -1;
  }
  $("panel").setAttribute("aria-labelledby", tab.id);
  closeMenu(false);
  selected.clear();
  clearItems();
  loaded = false;
  nextPage = null;
  loadMoreButton.hidden = true;
  emptyState.hidden = true;
  renderSelection();
  loadFirst();
}

$("tabs").addEventListener("click", (e) => {
  const tab = e.target.closest('[role="tab"]');
  if (tab) selectTab(tab);
});

// Arrow keys move along the tabs (mirrored right to left), Home and End to either end.
$("tabs").addEventListener("keydown", (e) => {
  const at = tabs.indexOf(e.target.closest('[role="tab"]'));
  if (at === -1) return;
  const rtl = getComputedStyle(e.currentTarget).direction === "rtl";
  const step = { ArrowRight: rtl ? -1 : 1, ArrowLeft: rtl ? 1 : -1 }[e.key];
  let to = null;
  if (step) to = (at + step + tabs.length) % tabs.length;
  else if (e.key === "Home") to = 0;
  else if (e.key === "End") to = tabs.length - 1;
  if (to === null) return;
  e.preventDefault();
  tabs[to].focus();
  selectTab(tabs[to]);
});

// --- selection --------------------------------------------------------------------------

const selectAll = $("select-all");

function select(id, on) {
  const item = items.get(id);
  if (!item) return;
  if (on) selected.add(id);
  else selected.delete(id);
  item.el.querySelector(".select-box").checked = on;
  item.el.classList.toggle("selected", on);
  renderSelection();
}

function renderSelection() {
  const count = selected.size;
  const bulk = $("bulk");
  // A bulk button that hides with the selection hands its focus to "Select all".
  const handOver = count === 0 && bulk.contains(document.activeElement);
  $("toolbar").hidden = items.size === 0;
  bulk.hidden = count === 0;
  $("bulk-read").hidden = tabIs("archived") || tabIs("snoozed");
  $("bulk-archive").hidden = tabIs("archived");
  $("bulk-unarchive").hidden = !tabIs("archived");
  const words = ngettext("%(count)s selected", "%(count)s selected", count);
  $("selected-count").textContent = count ? interpolate(words, { count: number(count) }, true) : "";
  selectAll.checked = count > 0 && count === items.size;
  selectAll.indeterminate = count > 0 && count < items.size;
  if (handOver) (items.size ? selectAll : currentTab).focus();
}

function clearSelection() {
  for (const id of [...selected]) select(id, false);
}

selectAll.addEventListener("change", () => {
  const on = selectAll.checked; // each select() below redraws the box
  for (const id of items.keys()) select(id, on);
});

$("bulk-clear").addEventListener("click", clearSelection);
$("bulk-read").addEventListener("click", () => markManyRead([...selected]));
$("bulk-archive").addEventListener("click", () => archive([...selected], { bulk: true }));
$("bulk-unarchive").addEventListener("click", () => unarchive([...selected], { bulk: true }));

// --- actions ----------------------------------------------------------------------------

async function markRead(id) {
  if (!setRead(id, true)) return;
  bumpCount(-1);
  try {
    const result = await api.markRead(id);
    setCount(result.unread_count);
    refreshCountsSoon();
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
    refreshCountsSoon();
  } catch (error) {
    for (const id of changed) setRead(id, false);
    setCount(before);
    flash(failed(gettext("Could not mark all read: %(reason)s"), error));
  }
}

/** The API takes up to 100 ids a request: a longer selection goes in slices of 100. */
async function inSlices(ids, call) {
  let result = null;
  for (let at = 0; at < ids.length; at += 100) result = await call(ids.slice(at, at + 100));
  return result;
}

async function markManyRead(ids) {
  const changed = ids.filter((id) => setRead(id, true));
  bumpCount(-changed.length);
  clearSelection();
  try {
    const result = await inSlices(ids, api.markManyRead);
    if (result) setCount(result.unread_count);
    refreshCountsSoon();
  } catch (error) {
    for (const id of changed) setRead(id, false);
    bumpCount(changed.length);
    flash(failed(gettext("Could not mark them read: %(reason)s"), error));
  }
}

/**
 * Take ``ids`` out of the list at once, then ask the server with ``request``; if it
 * refuses, put them back and say why with ``failure``.
 */
async function moveOut(ids, request, failure) {
  const held = ids.map((id) => items.get(id)?.data).filter(Boolean);
  const unreadHeld = held.filter((n) => !n.read && !n.archived).length;
  for (const n of held) removeItem(n.id);
  bumpCount(-unreadHeld);
  try {
    const result = await request();
    if (result?.unread_count !== undefined) setCount(result.unread_count);
    refreshCountsSoon();
    return held;
  } catch (error) {
    for (const n of held) place(n);
    bumpCount(unreadHeld);
    if (error.status !== 404) flash(failed(failure, error));
    return null;
  }
}

/** Archive (one request for a bulk selection), then offer to undo it. */
async function archive(ids, { bulk = false } = {}) {
  const request =
    bulk || ids.length > 1 ? () => inSlices(ids, api.archiveMany) : () => api.archive(ids[0]);
  const held = await moveOut(ids, request, gettext("Could not archive: %(reason)s"));
  if (!held?.length) return;
  const many = ngettext(
    "%(count)s notification archived",
    "%(count)s notifications archived",
    held.length,
  );
  const message =
    held.length === 1
      ? interpolate(gettext("Archived “%(title)s”"), held[0], true)
      : interpolate(many, { count: number(held.length) }, true);
  offerUndo(message, () => unarchive(held.map((n) => n.id), { undone: held }));
}

/** Bring archived notifications back; ``undone``: those an undo brings back, shown at once. */
async function unarchive(ids, { bulk = false, undone = [] } = {}) {
  const request =
    bulk || ids.length > 1 ? () => inSlices(ids, api.unarchiveMany) : () => api.unarchive(ids[0]);
  for (const n of undone) place({ ...n, archived: false, read: true });
  if (undone.length) {
    items.get(undone[0].id)?.el.focus();
    try {
      await request();
      refreshCountsSoon();
    } catch (error) {
      for (const n of undone) removeItem(n.id);
      flash(failed(gettext("Could not undo: %(reason)s"), error));
    }
    return;
  }
  await moveOut(ids, request, gettext("Could not move it to the inbox: %(reason)s"));
}

async function snooze(id, until) {
  const held = await moveOut(
    [id],
    () => api.snooze(id, until),
    gettext("Could not snooze: %(reason)s"),
  );
  if (held?.length) say(snoozedUntil(until), "snoozed");
}

const unsnoozedHere = new Set(); // ids this page brought back: no reminder toast for those

async function unsnooze(id) {
  unsnoozedHere.add(id);
  const failure = gettext("Could not unsnooze: %(reason)s");
  if (!(await moveOut([id], () => api.unsnooze(id), failure))) unsnoozedHere.delete(id);
}

async function remove(id) {
  const item = removeItem(id);
  if (!item) return;
  if (!item.data.read) bumpCount(-1);
  try {
    await api.remove(id);
    client.tell("deleted", { id });
    refreshCountsSoon();
  } catch (error) {
    if (error.status !== 404) {
      upsert(item.data);
      if (!item.data.read) bumpCount(1);
      flash(failed(gettext("Could not delete it: %(reason)s"), error));
    }
  }
}

const ROW_ACTIONS = {
  read: (id) => markRead(id),
  archive: (id) => archive([id]),
  unarchive: (id) => unarchive([id]),
  snooze: (id, button) => toggleMenu(id, button),
  unsnooze: (id) => unsnooze(id),
  delete: (id) => remove(id),
};

list.addEventListener("click", (e) => {
  const el = e.target.closest(".item");
  if (!el) return;
  const id = Number(el.dataset.id);
  const button = e.target.closest("button[data-action]");
  if (button) ROW_ACTIONS[button.dataset.action]?.(id, button);
  else if (e.target.closest("a[href]")) followed(items.get(id)?.data);
});

list.addEventListener("change", (e) => {
  const box = e.target.closest(".select-box");
  if (box) select(Number(box.closest(".item").dataset.id), box.checked);
});

markAllButton.addEventListener("click", markAllRead);

/**
 * Opening a notification's link or one of its actions marks it read first; keepalive lets
 * the request outlive the page it leaves.
 */
function followed(n) {
  if (!n?.id) return;
  const held = items.get(n.id)?.data ?? n;
  if (held.read) return;
  setRead(n.id, true);
  n.read = true; // a toast's copy
  bumpCount(-1);
  api.markRead(n.id, { keepalive: true }).catch(() => {});
}

// --- the keyboard -----------------------------------------------------------------------
// Single keys act only while a notification (or one of its buttons) has focus, so they never
// take a key from typing elsewhere (WCAG 2.1.4); the page lists them under "Keyboard
// shortcuts", and each button names its own in aria-keyshortcuts.

const SHORTCUTS = {
  e: (id) => (tabIs("archived") ? unarchive([id]) : archive([id])),
  s: (id, row) => {
    if (tabIs("snoozed")) unsnooze(id);
    else if (!row.querySelector('[data-action="snooze"]').hidden) {
      toggleMenu(id, row.querySelector('[data-action="snooze"]'));
    }
  },
  x: (id) => select(id, !selected.has(id)),
  r: (id) => markRead(id),
  z: () => pendingUndo?.(),
  "#": (id) => remove(id),
  Delete: (id) => remove(id),
};

function moveFocus(row, step) {
  const to = step > 0 ? row.nextElementSibling : row.previousElementSibling;
  to?.focus();
}

list.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.target.matches("input:not([type=checkbox])")) return;
  const row = e.target.closest(".item");
  if (!row || row.classList.contains("skeleton")) return;
  const onRow = e.target === row;
  const step = { j: 1, k: -1, ...(onRow ? { ArrowDown: 1, ArrowUp: -1 } : {}) }[e.key];
  if (step) moveFocus(row, step);
  else if (onRow && (e.key === "Enter" || e.key === "o")) {
    row.querySelector(".title-link:not([hidden])")?.click();
  }
  else if (Object.hasOwn(SHORTCUTS, e.key)) SHORTCUTS[e.key](Number(row.dataset.id), row);
  else return;
  e.preventDefault();
});

// --- the snooze menu and the date picker ------------------------------------------------

const menu = $("snooze-menu");
const menuItems = [...menu.querySelectorAll('[role="menuitem"]')];
const picker = $("snooze-dialog");
const pickerInput = $("snooze-at");
const pickerError = $("snooze-error");
let menuFor = null; // {id, button}
let pickerFor = null; // {id, button}

/**
 * The moment each choice of the menu stands for, from ``now``, in the reader's time zone:
 * in an hour, tomorrow at 9:00, or next Monday at 9:00 (on a Sunday, the Monday after
 * tomorrow's: "next week" never repeats "tomorrow").
 */
function snoozeTime(choice, now = new Date()) {
  if (choice === "hour") return new Date(now.getTime() + 3_600_000);
  const at = new Date(now);
  let days = 1;
  if (choice === "week") days = (8 - at.getDay()) % 7 || 7;
  if (choice === "week" && days === 1) days = 8;
  at.setDate(at.getDate() + days);
  at.setHours(9, 0, 0, 0);
  return at;
}

function toggleMenu(id, button) {
  const again = menuFor?.button === button;
  closeMenu(again);
  if (again) return;
  menuFor = { id, button };
  for (const item of menuItems) {
    const hint = item.querySelector(".menu-hint");
    const choice = item.dataset.snooze;
    const format = choice === "hour" ? timeFormat : dayFormat;
    if (hint) hint.textContent = format.format(snoozeTime(choice));
  }
  menu.hidden = false;
  button.setAttribute("aria-expanded", "true");
  positionMenu();
  menuItems[0].focus();
}

function closeMenu(restoreFocus = true) {
  if (!menuFor) return;
  const { button } = menuFor;
  menuFor = null;
  menu.hidden = true;
  button.setAttribute("aria-expanded", "false");
  if (restoreFocus && button.isConnected) button.focus();
}

/** Below its button (above it near the bottom), its end edge on the button's end edge. */
function positionMenu() {
  if (!menuFor) return;
  const box = menuFor.button.getBoundingClientRect();
  const rtl = getComputedStyle(document.documentElement).direction === "rtl";
  const { offsetWidth: width, offsetHeight: height } = menu;
  const left = rtl ? box.left : box.right - width;
  menu.style.left = `${Math.max(8, Math.min(left, innerWidth - width - 8))}px`;
  const below = box.bottom + 4;
  const top = below + height > innerHeight - 8 ? Math.max(8, box.top - 4 - height) : below;
  menu.style.top = `${top}px`;
}

addEventListener("resize", positionMenu);
addEventListener("scroll", positionMenu, { passive: true });
document.addEventListener("pointerdown", (e) => {
  if (menuFor && !menu.contains(e.target) && !menuFor.button.contains(e.target)) closeMenu(false);
});

menu.addEventListener("keydown", (e) => {
  const at = menuItems.indexOf(document.activeElement);
  const to = {
    ArrowDown: (at + 1) % menuItems.length,
    ArrowUp: (at - 1 + menuItems.length) % menuItems.length,
    Home: 0,
    End: menuItems.length - 1,
  }[e.key];
  if (to !== undefined) menuItems[to].focus();
  else if (e.key === "Escape") closeMenu();
  else if (e.key === "Tab") closeMenu(false);
  else return;
  e.preventDefault();
});

menu.addEventListener("click", (e) => {
  const item = e.target.closest('[role="menuitem"]');
  if (!item || !menuFor) return;
  const chosen = menuFor;
  // Back on the row's button first: when the row leaves, focus moves on to its neighbour.
  closeMenu();
  if (item.dataset.snooze === "pick") openPicker(chosen);
  else snooze(chosen.id, snoozeTime(item.dataset.snooze));
});

/** ``date`` as a datetime-local input's value: local wall time, to the minute. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const MAX_SNOOZE_MS = 90 * 86_400_000; // the server refuses a snooze longer than 90 days

function openPicker(target) {
  pickerFor = target;
  const now = new Date();
  pickerInput.min = localInput(now);
  pickerInput.max = localInput(new Date(now.getTime() + MAX_SNOOZE_MS - 60_000));
  pickerInput.value = localInput(snoozeTime("tomorrow", now));
  pickerInput.removeAttribute("aria-invalid");
  pickerError.hidden = true;
  picker.showModal();
}

function closePicker() {
  picker.close();
}

picker.addEventListener("close", () => {
  const target = pickerFor;
  pickerFor = null;
  if (!target) return;
  const row = list.querySelector('.item[tabindex="0"]');
  (target.button.isConnected ? target.button : (row ?? currentTab)).focus();
});

$("snooze-cancel").addEventListener("click", closePicker);

$("snooze-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const until = new Date(pickerInput.value); // no zone: the reader's local time
  const ahead = until.getTime() - Date.now();
  let problem = null;
  if (!pickerInput.value || Number.isNaN(ahead)) problem = gettext("Choose a date and a time.");
  else if (ahead <= 0) problem = gettext("Choose a time in the future.");
  else if (ahead > MAX_SNOOZE_MS) problem = gettext("Choose a time within 90 days.");
  if (problem) {
    pickerError.textContent = problem;
    pickerError.hidden = false;
    pickerInput.setAttribute("aria-invalid", "true");
    pickerInput.focus();
    return;
  }
  const { id } = pickerFor;
  closePicker();
  snooze(id, until);
});

// --- toasts -----------------------------------------------------------------------------

const TOAST_MS = 7000;
const MAX_TOASTS = 4;
let pendingUndo = null; // the newest undo still offered, for the "z" key

/** Show ``n`` as a toast, with its actions and any ``buttons``; return the toast. */
function showToast(n, buttons = []) {
  const el = $("toast-template").content.firstElementChild.cloneNode(true);
  el.dataset.id = n.id;
  paintIcon(el.querySelector(".icon"), n.kind);
  fillTitle(el, n);
  const body = el.querySelector(".toast-body");
  body.textContent = n.body;
  body.hidden = !n.body;
  const links = el.querySelector(".links");
  fillLinks(links, n);
  links.append(...buttons);
  links.hidden = links.childElementCount === 0;
  el.querySelector(".toast-close").addEventListener("click", () => dismiss(el));
  el.addEventListener("click", (e) => {
    if (e.target.closest("a[href]")) followed(n);
  });
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
  return el;
}

function dismiss(el) {
  if (el.classList.contains("leaving")) return;
  el.classList.add("leaving");
  el.dispatchEvent(new Event("dismiss"));
  const done = () => el.remove();
  el.addEventListener("animationend", done, { once: true });
  setTimeout(done, 400); // reduced motion: no animation, no animationend
}

/** A short message in the same live region as the toasts; ``kind`` picks its icon. */
function say(message, kind, buttons = []) {
  return showToast({ id: 0, kind, title: message, body: "", url: "", actions: [] }, buttons);
}

/** A failed action's message. */
function flash(message) {
  say(message, "error");
}

/** Say ``message`` with an "Undo" button that calls ``undo`` once (or the "z" key does). */
function offerUndo(message, undo) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-secondary btn-small";
  button.textContent = gettext("Undo");
  const el = say(message, "archived", [button]);
  const run = () => {
    if (pendingUndo === run) pendingUndo = null;
    if (el.classList.contains("leaving")) return;
    dismiss(el);
    undo();
  };
  button.addEventListener("click", run);
  el.addEventListener("dismiss", () => {
    if (pendingUndo === run) pendingUndo = null;
  });
  pendingUndo = run;
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

/**
 * Ids that the stream says moved into a state (archived, snoozed): held rows take the
 * ``change`` and leave a tab they no longer belong in; the tab that lists that state reloads
 * for those it does not hold, since the event does not carry them.
 */
function movedInto(state, ids, change) {
  let missing = false;
  for (const id of ids) {
    const item = items.get(id);
    if (item) place({ ...item.data, ...change });
    else missing = true;
  }
  if (missing && tabIs(state)) reloadSoon();
}

/** Notifications the stream brought back (unarchived, unsnoozed), each in its tab. */
function broughtBack({ ids = [], notifications = [] }, change) {
  const payloads = new Map(notifications.map((n) => [n.id, n]));
  for (const id of ids) {
    const n = payloads.get(id) ?? (items.has(id) ? { ...items.get(id).data, ...change } : null);
    if (n) place(n);
  }
}

/** A snooze that came due (not one this page ended) shows as a reminder in a visible tab. */
function remind(notifications) {
  for (const n of notifications) {
    if (unsnoozedHere.delete(n.id)) continue;
    if (document.visibilityState === "visible") showToast(n);
    items.get(n.id)?.el.classList.add("fresh");
  }
}

let connectedBefore = false;
let wentLive = false;
let lostSinceLive = false;

const client = connect({
  // Scoped to the user, so tabs of an earlier log-in never share this tab's stream.
  name: `notifications-stream:${config.userId}`,
  eventsPath: config.eventsPath,
  on: {
    connected(data) {
      // The session now belongs to someone else (a log-in in another tab): start over.
      if (data.user_id !== config.userId) location.reload();
      setCount(data.unread_count);
      refreshCountsSoon(0);
      // A reconnect (not the first connect): what changed while away shows.
      if (connectedBefore || lostSinceLive) reloadSoon();
      connectedBefore = true;
      lostSinceLive = false;
    },
    notification(n, { toast }) {
      const fresh = !items.has(n.id) && !n.archived && !isSnoozed(n);
      if (belongs(n) && upsert(n)) items.get(n.id).el.classList.add("fresh");
      if (fresh && !n.read) {
        bumpCount(1);
        badge.classList.remove("bump");
        void badge.offsetWidth; // restart the animation
        badge.classList.add("bump");
      }
      refreshCountsSoon();
      if (fresh && toast) showToast(n);
    },
    read(data) {
      for (const id of data.ids ?? []) setRead(id, true);
      for (const id of data.unread_ids ?? []) setRead(id, false);
      setCount(data.unread_count);
      refreshCountsSoon();
    },
    archived(data) {
      movedInto("archived", data.ids ?? [], { archived: true, read: true });
      setCount(data.unread_count);
      refreshCountsSoon();
    },
    snoozed(data) {
      movedInto("snoozed", data.ids ?? [], { snoozed_until: data.until, read: true });
      setCount(data.unread_count);
      refreshCountsSoon();
    },
    unarchived(data) {
      broughtBack(data, { archived: false });
      setCount(data.unread_count);
      refreshCountsSoon();
    },
    unsnoozed(data) {
      broughtBack(data, { snoozed_until: null, read: false });
      remind(data.notifications ?? []);
      setCount(data.unread_count);
      refreshCountsSoon();
    },
    resync() {
      loadFirst();
    },
    deleted({ id }) {
      removeItem(id);
    },
    status(status) {
      showStatus(status);
      if (status === "live") wentLive = true;
      else if (wentLive) lostSinceLive = true;
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
// Critical kinds are shown locked: the server refuses to turn them off anyway (push, which
// only decides whether a closed browser hears of them, stays the user's to choose).

const prefRows = $("prefs-rows");
const prefStatus = $("prefs-status");
const prefsTable = $("prefs-table");
const languageForm = $("language-form");
const languageSelect = $("language");
const send = requester();

// Each switch's name for screen readers: the kind's label (from the server) and the channel;
// the second, of a locked switch.
const SWITCH_NAMES = {
  in_app: [gettext("%(kind)s in the app"), gettext("%(kind)s in the app (required)")],
  email: [gettext("%(kind)s by email"), gettext("%(kind)s by email (required)")],
  push: [gettext("%(kind)s by push")],
};

async function preferencesRequest(method, body) {
  return answerOf(await send(config.preferencesPath, { method, body }));
}

function renderPreferences(kinds) {
  prefRows.replaceChildren();
  for (const pref of kinds) {
    const row = $("pref-template").content.firstElementChild.cloneNode(true);
    row.dataset.kind = pref.kind;
    row.querySelector(".pref-label").textContent = pref.label;
    row.querySelector(".pref-lock").hidden = !pref.critical;
    for (const input of row.querySelectorAll("input[data-switch]")) {
      const channel = input.dataset.switch;
      const locked = pref.critical && channel !== "push";
      input.checked = pref[channel];
      input.disabled = locked;
      input.closest(".switch").querySelector(".switch-name").textContent = interpolate(
        SWITCH_NAMES[channel][Number(locked)],
        { kind: pref.label },
        true,
      );
      if (locked) {
        input.closest(".switch").title = gettext("Required: this cannot be turned off");
      }
    }
    prefRows.append(row);
  }
  prefsTable.hidden = kinds.length === 0;
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

// --- push notifications -----------------------------------------------------------------
// One switch for this browser: on, it is subscribed to Web Push, and the server pushes what
// arrives while no tab of the site is open. It says why when it cannot be on: the site has no
// keys (push is off on the server), the browser has no Web Push, or the user blocked the
// site's notifications. It stays focusable then (aria-disabled), so that the reason, its
// description, is read. The per-kind "Push" switches show only when the site can push.

// push.js's default push API: a 404 for its key says the site has push off.
const PUSH_KEY_PATH = "/api/push/public-key/";
const pushSwitch = $("push-switch");
const pushNote = $("push-note");
const PUSH_NOTES = {
  unavailable: gettext("Push notifications are not available on this site."),
  unsupported: gettext("This browser cannot show push notifications."),
  denied: gettext(
    "Notifications are blocked for this site: allow them in the browser's site settings, then reload the page.",
  ),
  off: gettext("Off: turn it on to hear of new notifications while the site is closed."),
  on: gettext("On: this browser shows new notifications while the site is closed."),
};
let pushBusy = false;

/** Draw the switch for ``state``: a pushState() answer, or "unavailable" (off on the server). */
function drawPush(state) {
  pushSwitch.checked = state === "on";
  pushSwitch.setAttribute("aria-disabled", String(state !== "on" && state !== "off"));
  pushNote.textContent = PUSH_NOTES[state];
  prefsTable.dataset.push = state === "unavailable" ? "off" : "on";
}

async function pushOnServer() {
  try {
    await send(PUSH_KEY_PATH);
    return true;
  } catch (error) {
    return error.status !== 404; // another failure: enablePush() will say what it is
  }
}

async function loadPush() {
  const [onServer, state] = await Promise.all([
    pushOnServer(),
    pushState().catch(() => "unsupported"),
  ]);
  drawPush(onServer ? state : "unavailable");
}

/** Turn push ``on`` or off for this browser, and say how it went. */
async function togglePush(on) {
  pushBusy = true;
  prefStatus.textContent = gettext("Saving…");
  try {
    drawPush((on ? await enablePush() : await disablePush()).state);
    prefStatus.textContent = gettext("Saved");
  } catch (error) {
    prefStatus.textContent = "";
    // A PushError says why in the user's words; its reason "off" means off on the server.
    const reasons = { off: "unavailable", unsupported: "unsupported", denied: "denied" };
    drawPush(reasons[error.reason] ?? (await pushState().catch(() => "off")));
    flash(error.message);
  } finally {
    pushBusy = false;
  }
}

// From the click itself: the browser asks for the permission only during a user gesture.
pushSwitch.addEventListener("click", (e) => {
  if (pushBusy || pushSwitch.getAttribute("aria-disabled") === "true") {
    e.preventDefault(); // the checkbox keeps its state
    return;
  }
  togglePush(pushSwitch.checked);
});

// A clicked push that the worker could not mark read itself (its browser gives a worker no
// cookies to read the CSRF token from): the worker asks this page, which marks it.
listenForPushClicks(api);

loadFirst();
loadPreferences();
loadPush();
setInterval(() => {
  for (const { data, el } of items.values()) {
    el.querySelector("time").textContent = relativeTime(data.created_at);
  }
}, 30_000);
