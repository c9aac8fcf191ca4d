/**
 * The service worker of Web Push (push.js registers it): it shows each push as a system
 * notification and, when one is clicked, brings the user to its page and marks it read.
 *
 * The server's push is JSON: {id, seq, kind, title, body, url}. The worker has no fetch
 * handler and its scope is its own directory, so it never stands between the site's pages
 * and the network.
 */

// The contract's path: the worker runs on the site's origin, where the app is mounted.
const READ_PATH = (id) => `/api/notifications/${encodeURIComponent(id)}/read/`;
const CLICKED = "notifications:clicked";

self.addEventListener("push", (event) => {
  const message = parse(event.data);
  // Nothing to show: the browser then shows its own "updated in the background" notice,
  // which is better than inventing a title.
  if (!message) return;
  event.waitUntil(
    self.registration.showNotification(message.title, {
      body: message.body ?? "",
      // One notification of ours per stored notification, even if a push comes twice.
      tag: `notification-${message.id}`,
      data: { id: message.id, url: message.url ?? "" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const { id, url } = event.notification.data ?? {};
  event.waitUntil(openAndMarkRead(id, url));
});

/** The push's message, or null when it carries none the worker understands. */
function parse(data) {
  try {
    const message = data?.json();
    return message && typeof message.title === "string" ? message : null;
  } catch {
    return null;
  }
}

/**
 * Focus the tab already at ``url``, else open one there; mark the notification read, by
 * the worker itself or by that tab.
 */
async function openAndMarkRead(id, url) {
  const target = new URL(url || "/", self.location.origin).href;
  // Uncontrolled too: the worker's scope covers no page, so it controls none of them.
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const [marked, tab] = await Promise.all([
    id === undefined ? true : markRead(id),
    show(tabs, target),
  ]);
  // A tab of another site (an off-site url) is null here: any tab of ours may do it.
  const messenger = tab ?? tabs[0];
  if (!marked && messenger) messenger.postMessage({ type: CLICKED, id });
}

/** Focus the tab at ``target`` or open one; resolve to it (null when it is not ours). */
async function show(tabs, target) {
  const tab = tabs.find((client) => client.url === target);
  try {
    return tab ? await tab.focus() : await self.clients.openWindow(target);
  } catch (error) {
    console.error("notifications: could not show the notification's page:", error);
    return tab ?? null;
  }
}

/**
 * POST the read with the session cookie, as a page of the site would. A worker cannot read
 * document.cookie: the CSRF token comes from cookieStore (Chromium has it in workers). Where
 * it is missing, or the request is refused (a site that signs in with tokens, or serves the
 * API from another origin), resolve false: the tab marks it read instead.
 */
async function markRead(id) {
  if (!("cookieStore" in self)) return false;
  try {
    const csrf = await self.cookieStore.get("csrftoken");
    if (!csrf) return false;
    const response = await fetch(READ_PATH(id), {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf.value },
    });
    return response.ok;
  } catch {
    return false;
  }
}
