// Moving notifications out of the list and back: archive (with an undo offered in a toast),
// move to the inbox, snooze and unsnooze. Each row leaves at once and comes back if the server
// refuses, with the reason.
import { gettext, interpolate, ngettext } from "../notifications/client.js";
import { bumpCount, refreshCountsSoon, setCount } from "./counts.js";
import { number, snoozedUntil } from "./format.js";
import { api, items } from "./page.js";
import { place, removeItem } from "./rows.js";
import { failed, flash, offerUndo, say } from "./toasts.js";

/** The API takes up to 100 ids a request: a longer selection goes in slices of 100. */
export async function inSlices(ids, call) {
  let result = null;
  for (let at = 0; at < ids.length; at += 100) result = await call(ids.slice(at, at + 100));
  return result;
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
export async function archive(ids, { bulk = false } = {}) {
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
export async function unarchive(ids, { bulk = false, undone = [] } = {}) {
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

export async function snooze(id, until) {
  const held = await moveOut(
    [id],
    () => api.snooze(id, until),
    gettext("Could not snooze: %(reason)s"),
  );
  if (held?.length) say(snoozedUntil(until), "snoozed");
}

export const unsnoozedHere = new Set(); // ids this page brought back: no reminder toast for those

export async function unsnooze(id) {
  unsnoozedHere.add(id);
  const failure = gettext("Could not unsnooze: %(reason)s");
  if (!(await moveOut([id], () => api.unsnooze(id), failure))) unsnoozedHere.delete(id);
}
