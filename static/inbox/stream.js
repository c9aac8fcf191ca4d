// The live stream: the connection indicator, and each event (new notification, read,
// archived, snoozed, back again, resync, deleted) applied to the list and the counts. One
// stream is shared by the user's tabs.
import { connect, gettext, statusLabel } from "../notifications/client.js";
import { unsnoozedHere } from "./archive.js";
import { bumpCount, refreshCountsSoon, setCount } from "./counts.js";
import { loadFirst, reloadSoon } from "./list.js";
import { api, badge, config, conn, items } from "./page.js";
import { place, removeItem, setRead, upsert } from "./rows.js";
import { belongs, isSnoozed, tabIs } from "./tabs.js";
import { showToast } from "./toasts.js";

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

// What each of the stream's events changes on the page.
const HANDLERS = {
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
};

export let client = null;

/** Open the stream and follow its events. */
export function startStream() {
  client = connect({
    // Scoped to the user, so tabs of an earlier log-in never share this tab's stream.
    name: `notifications-stream:${config.userId}`,
    eventsPath: config.eventsPath,
    on: HANDLERS,
  });
}
