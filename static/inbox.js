// The inbox page: tabs (all, one per category, snoozed, archived), the list, the bell, the
// toasts and the connection indicator, all driven by the notifications client (stream) and
// its API helper; each notification can be archived, snoozed, opened through its actions,
// selected for bulk changes, from the mouse or the keyboard. The preferences panel sets the
// language, each kind's channels (in the app, email, push) and Web Push for this browser.
// Every user-supplied string reaches the page through textContent or an attribute, never
// through HTML. Its words come from Django's JavaScript catalog (loaded before it), its dates
// and numbers from Intl, both in the page's language (<html lang>).
//
// This entry point only wires the modules of static/inbox/ together, in one place and in a
// fixed order: they declare, it starts.
import { listenForPushClicks } from "./notifications/client.js";
import { wireActions } from "./inbox/actions.js";
import { relativeTime } from "./inbox/format.js";
import { wireKeyboard } from "./inbox/keyboard.js";
import { loadFirst, wireList } from "./inbox/list.js";
import { api, items } from "./inbox/page.js";
import { loadPreferences, wirePreferences } from "./inbox/preferences.js";
import { loadPush, wirePush } from "./inbox/push-switch.js";
import { wireRows } from "./inbox/rows.js";
import { wireSelection } from "./inbox/selection.js";
import { wireSnoozeDialog } from "./inbox/snooze-dialog.js";
import { wireSnoozeMenu } from "./inbox/snooze-menu.js";
import { startStream } from "./inbox/stream.js";
import { wireTabs } from "./inbox/tabs.js";

wireRows();
wireList();
wireTabs();
wireSelection();
wireActions();
wireKeyboard();
wireSnoozeMenu();
wireSnoozeDialog();
startStream();
wirePreferences();
wirePush();

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
