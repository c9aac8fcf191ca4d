// The unread counts: the bell, the page title, each tab's count and the summary line.
// The stream's events carry the true total; a new notification bumps it at once, and a
// debounced API read corrects any overlap (a replayed notification that `connected` already
// counted, a read that crossed a notification on the wire) and gives each category's count.
import { gettext, interpolate, ngettext } from "../notifications/client.js";
import { number } from "./format.js";
import { loaded } from "./list.js";
import {
  api,
  badge,
  bell,
  emptyState,
  items,
  markAllButton,
  pageTitle,
  summary,
  tabs,
} from "./page.js";
import { renderSelection } from "./selection.js";
import { currentTab } from "./tabs.js";

export let unread = 0;
let byCategory = {};
let countVersion = 0;
let countRequest = 0;
let countTimer = null;

export function setCount(n) {
  countVersion += 1;
  unread = Math.max(0, n);
  renderCount();
}

export function bumpCount(delta) {
  if (delta) setCount(unread + delta);
}

/** Ask for every count after a change settles; an answer older than the stream's is dropped. */
export function refreshCountsSoon(delay = 400) {
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

export function renderCount() {
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

export function renderSummary() {
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
