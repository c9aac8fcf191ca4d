// The list's rows: drawing a notification into its row (icon, title, links, time, buttons
// named after it), keeping the rows newest first, and one row as the list's tab stop. Every
// user-supplied string goes in through textContent or an attribute, never through HTML.
import { gettext, interpolate } from "../notifications/client.js";
import { fillLinks, fillTitle } from "./content.js";
import { renderSummary } from "./counts.js";
import { absoluteFormat, relativeTime, snoozedUntil } from "./format.js";
import { kindLabel, paintIcon } from "./icons.js";
import { $, items, list, selected } from "./page.js";
import { belongs, currentTab, isSnoozed } from "./tabs.js";

export function clearSkeleton() {
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
export function upsert(n) {
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
export function place(n) {
  if (belongs(n)) upsert(n);
  else removeItem(n.id);
}

export function setRead(id, read) {
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
export function removeItem(id) {
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

export function clearItems() {
  for (const { el } of items.values()) el.remove();
  items.clear();
}

/** One row is the list's tab stop (the focused one, or the first): the others are -1. */
function syncTabStops() {
  const rows = [...items.values()].map(({ el }) => el);
  const current = rows.find((row) => row.tabIndex === 0) ?? rows[0];
  for (const row of rows) row.tabIndex = row === current ? 0 : -1;
}

/** Focusing a row makes it the list's tab stop. */
export function wireRows() {
  list.addEventListener("focusin", (e) => {
    const row = e.target.closest(".item");
    if (!row || row.tabIndex === 0) return;
    for (const { el } of items.values()) el.tabIndex = el === row ? 0 : -1;
  });
}
