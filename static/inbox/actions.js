// A row's buttons and the other ways to mark read or delete: each changes the page at once,
// then asks the server, and puts things back with the reason if it refuses. Opening a
// notification's link marks it read too.
import { gettext } from "../notifications/client.js";
import { archive, inSlices, unarchive, unsnooze } from "./archive.js";
import { bumpCount, refreshCountsSoon, setCount, unread } from "./counts.js";
import { api, items, list, markAllButton } from "./page.js";
import { removeItem, setRead, upsert } from "./rows.js";
import { clearSelection, select } from "./selection.js";
import { toggleMenu } from "./snooze-menu.js";
import { client } from "./stream.js";
import { failed, flash } from "./toasts.js";

export async function markRead(id) {
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

export async function markManyRead(ids) {
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

export async function remove(id) {
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

/** A row's buttons, links and box; “Mark all read”. */
export function wireActions() {
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
}

/**
 * Opening a notification's link or one of its actions marks it read first; keepalive lets
 * the request outlive the page it leaves.
 */
export function followed(n) {
  if (!n?.id) return;
  const held = items.get(n.id)?.data ?? n;
  if (held.read) return;
  setRead(n.id, true);
  n.read = true; // a toast's copy
  bumpCount(-1);
  api.markRead(n.id, { keepalive: true }).catch(() => {});
}
