// Loading the current tab's list through the API: its first page (again after a resync or
// a burst of changes), older pages on request, and emptying it for another tab. An answer for
// a tab left meanwhile is dropped.
import { gettext } from "../notifications/client.js";
import { refreshCountsSoon, renderCount } from "./counts.js";
import { api, emptyState, items, list, loadError, loadMoreButton } from "./page.js";
import { clearItems, clearSkeleton, removeItem, upsert } from "./rows.js";
import { client } from "./stream.js";
import { currentTab, tabFilter } from "./tabs.js";
import { failed, flash } from "./toasts.js";

let nextPage = null;
export let loaded = false;
let listVersion = 0;
let reloadTimer = null;

/** Load the current tab's first page; an answer for a tab left meanwhile is dropped. */
export async function loadFirst() {
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
export function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadFirst, 300);
}

/** Empty the list for another tab: nothing loaded yet, no older page. */
export function resetList() {
  clearItems();
  loaded = false;
  nextPage = null;
  loadMoreButton.hidden = true;
  emptyState.hidden = true;
}

/** The “Load older notifications” button loads the next page. */
export function wireList() {
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
}
