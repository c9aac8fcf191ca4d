// The preferences panel's push switch, one for this browser: on, it is subscribed to Web
// Push, and the server pushes what arrives while no tab of the site is open. It says why when
// it cannot be on: the site has no keys (push is off on the server), the browser has no Web
// Push, or the user blocked the site's notifications. It stays focusable then
// (aria-disabled), so that the reason, its description, is read. The per-kind "Push" switches
// show only when the site can push.
import { disablePush, enablePush, gettext, pushState } from "../notifications/client.js";
import { $ } from "./page.js";
import { prefStatus, prefsTable, send } from "./preferences.js";
import { flash } from "./toasts.js";

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

export async function loadPush() {
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

/** The switch turns push on or off, unless it says why it cannot. */
export function wirePush() {
  // From the click itself: the browser asks for the permission only during a user gesture.
  pushSwitch.addEventListener("click", (e) => {
    if (pushBusy || pushSwitch.getAttribute("aria-disabled") === "true") {
      e.preventDefault(); // the checkbox keeps its state
      return;
    }
    togglePush(pushSwitch.checked);
  });
}
