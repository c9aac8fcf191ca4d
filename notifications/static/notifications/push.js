/**
 * Web Push in the browser: notifications that reach the user with no tab of the site open.
 *
 *   import { enablePush, disablePush, pushState } from "/static/notifications/push.js";
 *   toggle.addEventListener("click", async () => {
 *     try {
 *       await enablePush();
 *     } catch (error) {
 *       show(error.message); // says why, in the user's words (a PushError)
 *     }
 *   });
 *
 * enablePush() must run in a click's handler: browsers only ask for the permission from a
 * user gesture. It registers push-worker.js (the service worker beside this module), subscribes
 * the browser with the site's public key and hands the subscription to the server, which then
 * pushes each notification that finds no open stream of the user.
 *
 * The worker is registered with its own directory as scope, so it controls no page and sees
 * no request of the site: it only shows pushes and answers clicks on them. It must be served
 * from the page's origin (a service worker cannot come from a CDN); pass ``workerUrl`` when
 * the static files live elsewhere, or when a bundler moved this module away from it.
 *
 * A click on a notification marks it read from the worker itself when it can read the CSRF
 * cookie (``cookieStore``, in Chromium's service workers); elsewhere, and for sites that
 * authenticate with a token, it asks the tab it focused or opened: a page that calls
 * ``listenForPushClicks(createApi(...))`` then marks it read.
 *
 * client.js re-exports this module, so a page may import either; it imports only http.js.
 */

import { ApiError, gettext, requester } from "./http.js";

const CLICKED = "notifications:clicked";

/** Why enablePush() could not turn push on: ``reason`` for the page, ``message`` for people. */
export class PushError extends Error {
  /**
   * @param {"unsupported"|"denied"|"off"|"failed"} reason
   * @param {string} message
   * @param {unknown} [cause] the browser's own error, for the console
   */
  constructor(reason, message, cause = undefined) {
    super(message, { cause });
    this.name = "PushError";
    this.reason = reason;
  }
}

/**
 * Ask for the permission, register the worker, subscribe and tell the server.
 *
 * @param {object} [options] as createApi() takes them, and:
 * @param {string} [options.pushPath] the push API, "/api/push/"
 * @param {string|URL} [options.workerUrl] the service worker (relative to the page), by
 *   default push-worker.js beside this module; it must be on the page's origin
 * @returns {Promise<{state: "on", created: boolean, subscription: PushSubscription}>}
 *   ``created``: the server did not know this browser yet
 * @throws {PushError}
 */
export async function enablePush(options = {}) {
  if (!supported()) throw unsupported();
  // First, before any other await: the permission prompt needs the click's user activation.
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw denied();
  const server = pushServer(options);
  const key = await server.publicKey();
  const registration = await register(workerUrl(options));
  const subscription = await subscribe(registration.pushManager, key);
  try {
    const answer = await server.send("POST", "subscriptions/", subscription.toJSON());
    return { state: "on", created: answer.status === 201, subscription };
  } catch (error) {
    // Unknown to the server, the subscription would only say "on" to pushState() forever.
    await subscription.unsubscribe();
    throw error;
  }
}

/**
 * Unsubscribe this browser, then ask the server to forget it.
 *
 * The browser goes first, so push is off even when the server cannot be reached (or the
 * session has ended); a push the server still sends then meets a 410, on which it forgets
 * the subscription by itself. ``removed`` says whether the server confirmed it.
 *
 * @returns {Promise<{state: "off", removed: boolean}>}
 */
export async function disablePush(options = {}) {
  const subscription = supported() ? await currentSubscription(options) : null;
  if (!subscription) return { state: "off", removed: false };
  const { endpoint } = subscription;
  await subscription.unsubscribe();
  const removed = await pushServer(options)
    .send("DELETE", "subscriptions/", { endpoint })
    .then(() => true)
    .catch(() => false);
  return { state: "off", removed };
}

/**
 * What a switch shows, without asking the user or the server anything: "unsupported" (no
 * Web Push in this browser), "denied" (the user blocked notifications for the site: only
 * the browser's site settings can undo it), "on" (this browser is subscribed), else "off".
 *
 * @returns {Promise<"unsupported"|"denied"|"off"|"on">}
 */
export async function pushState(options = {}) {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  const subscription = await currentSubscription(options);
  return subscription && Notification.permission === "granted" ? "on" : "off";
}

/**
 * Mark read the notifications the worker could not mark itself, with ``api`` (createApi()'s)
 * and the page's credentials. Returns a function that stops listening.
 */
export function listenForPushClicks(api) {
  const container = globalThis.navigator?.serviceWorker;
  if (!container) return () => {};
  const onMessage = (event) => {
    if (event.data?.type !== CLICKED) return;
    api.markRead(event.data.id).catch((error) => {
      console.error("notifications: could not mark a clicked push read:", error);
    });
  };
  container.addEventListener("message", onMessage);
  // addEventListener, unlike onmessage, does not release the messages queued until now.
  container.startMessages();
  return () => container.removeEventListener("message", onMessage);
}

function supported() {
  return (
    "serviceWorker" in navigator && "PushManager" in globalThis && "Notification" in globalThis
  );
}

/** The page's ``workerUrl`` (relative to the page), else push-worker.js beside this module. */
function workerUrl({ workerUrl: url = null } = {}) {
  if (url) return new URL(url, globalThis.location.href);
  // Bundled into a script, not an ES module, this module has no import.meta.url: the URL
  // cannot be made. Inside ``try``, esbuild knows that case is handled and does not warn;
  // webpack and Vite see the pattern and ship push-worker.js with the bundle.
  try {
    return new URL("./push-worker.js", import.meta.url);
  } catch (error) {
    throw new TypeError("push.js is bundled: pass workerUrl, push-worker.js's URL", {
      cause: error,
    });
  }
}

async function currentSubscription(options) {
  const registration = await navigator.serviceWorker.getRegistration(workerUrl(options));
  return (await registration?.pushManager.getSubscription()) ?? null;
}

/**
 * Register the worker and resolve once it is active: PushManager.subscribe() refuses before.
 * Its scope is not the page's, so navigator.serviceWorker.ready would never settle. The
 * browser fetches the script past its HTTP cache, so a new version is seen at once.
 */
async function register(url) {
  let registration;
  try {
    registration = await navigator.serviceWorker.register(url, { updateViaCache: "none" });
  } catch (error) {
    // A SecurityError: the script is on another origin, or the page's policy refuses it.
    throw failed(error);
  }
  if (registration.active) return registration;
  const worker = registration.installing ?? registration.waiting;
  return new Promise((resolve, reject) => {
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve(registration);
      if (worker.state === "redundant") reject(failed());
    });
  });
}

/** Subscribe with ``key``, replacing a subscription made with another key (a new key pair). */
async function subscribe(pushManager, key) {
  const existing = await pushManager.getSubscription();
  if (existing && !sameBytes(existing.options.applicationServerKey, key)) {
    await existing.unsubscribe();
  }
  try {
    return await pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  } catch (error) {
    // NotAllowedError: the permission went away meanwhile. AbortError: no push service
    // (a browser build without one, or it could not be reached).
    throw error?.name === "NotAllowedError" ? denied(error) : failed(error);
  }
}

/**
 * The push API of the notifications server, signed in as createApi() is. Its refusals are
 * PushErrors "failed" with the server's words; a 404 for the key says push is off there.
 */
function pushServer({
  baseUrl = "",
  pushPath = "/api/push/",
  getToken = null,
  withCredentials = false,
  csrfToken = null,
} = {}) {
  const base = new URL(pushPath, baseUrl || globalThis.location?.href);
  const request = requester({ getToken, withCredentials, csrfToken });

  async function send(method, path, body = undefined) {
    try {
      return await request(new URL(path, base), { method, body });
    } catch (error) {
      if (error instanceof ApiError) throw new PushError("failed", error.message, error);
      throw unreachable(error);
    }
  }

  async function publicKey() {
    const answer = await send("GET", "public-key/").catch((error) => {
      throw error.cause?.status === 404 ? off() : error;
    });
    return base64url((await answer.json()).public_key);
  }

  return { send, publicKey };
}

function base64url(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function sameBytes(buffer, bytes) {
  const other = new Uint8Array(buffer ?? []);
  return other.length === bytes.length && other.every((byte, i) => byte === bytes[i]);
}

// --- why push cannot be on, in the user's words (Django's catalog, through http.js) -------

const unsupported = () =>
  new PushError("unsupported", gettext("This browser cannot show push notifications."));
const denied = (cause) =>
  new PushError(
    "denied",
    gettext("Notifications are blocked for this site. Allow them in the browser's site settings."),
    cause,
  );
const off = () =>
  new PushError("off", gettext("Push notifications are not available on this site."));
const failed = (cause) =>
  new PushError(
    "failed",
    gettext("The browser could not subscribe to push notifications. Try again later."),
    cause,
  );
const unreachable = (cause) =>
  new PushError("failed", gettext("The server could not be reached. Try again later."), cause);
