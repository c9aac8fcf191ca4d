/**
 * What client.js and push.js share: one way to call the notifications API (its credentials,
 * Django's CSRF token, its errors) and the words of Django's JavaScript catalog.
 *
 *   import { requester, answerOf } from "/static/notifications/http.js";
 *   const send = requester({ getToken });  // or {} on a page with the session cookie
 *   const kinds = await answerOf(await send("/api/preferences/"));
 *
 * A module of its own so that push.js need not import client.js, which re-exports push.js.
 * Pages usually want client.js, which re-exports everything here a page needs.
 */

/** An HTTP error of the API, with its ``detail`` message. */
export class ApiError extends Error {
  constructor(status, detail) {
    // Translators: an API request failed and the server said no more; %s is the HTTP status.
    super(detail || interpolate(gettext("HTTP error %s"), [status]));
    this.status = status;
  }
}

/**
 * A function that sends one request to the API as the page is signed in, and resolves to
 * its 2xx response (throwing ApiError, with the server's ``detail``, for any other).
 *
 * Same-origin pages use the session cookie and send Django's CSRF token with every change
 * (from the ``csrftoken`` cookie unless ``csrfToken`` gives it); other sites pass
 * ``getToken``: an access token, or a function (sync or async) that returns a current one,
 * sent as a bearer token, with no cookies.
 *
 * @param {object} [options]
 * @param {string|(() => string|Promise<string>)} [options.getToken]
 * @param {boolean} [options.withCredentials] send cookies to another origin (CORS)
 * @param {string|(() => string)} [options.csrfToken]
 * @returns {(url: string|URL, init?: {method?: string, body?: unknown, keepalive?: boolean})
 *   => Promise<Response>} ``body`` is sent as JSON
 */
export function requester({ getToken = null, withCredentials = false, csrfToken = null } = {}) {
  return async function send(url, { method = "GET", body = undefined, keepalive = false } = {}) {
    const headers = { Accept: "application/json" };
    let credentials = withCredentials ? "include" : "same-origin";
    if (getToken) {
      headers.Authorization = `Bearer ${await resolveToken(getToken)}`;
      credentials = "omit";
    } else if (method !== "GET") {
      const csrf = typeof csrfToken === "function" ? csrfToken() : csrfToken ?? cookie("csrftoken");
      if (csrf) headers["X-CSRFToken"] = csrf;
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    const response = await fetch(url, { method, headers, credentials, keepalive, body });
    if (!response.ok) {
      const answer = await response.json().catch(() => ({}));
      throw new ApiError(response.status, answer.detail);
    }
    return response;
  };
}

/** The JSON an API response carries; null for 204 No Content. */
export async function answerOf(response) {
  return response.status === 204 ? null : response.json();
}

/** The access token that ``getToken`` gives: a string, or a function (sync or async). */
export async function resolveToken(getToken) {
  return typeof getToken === "function" ? getToken() : getToken;
}

/** The value of the page's cookie ``name``, or null (always null where there is no page). */
function cookie(name) {
  for (const part of (globalThis.document?.cookie ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

// --- words -------------------------------------------------------------------------------
// The words a user may read from the modules (the connection's state, an API error that came
// without the server's own message, why push cannot be on) go through Django's JavaScript
// catalog when the page loaded one (JavaScriptCatalog: the djangojs domain), and stay English
// when it did not, so an embedding page works either way. Console messages are for
// developers: they stay English.

/** ``msgid`` in the words of the page's Django catalog, or as given without one. */
export function gettext(msgid) {
  const catalog = globalThis.django;
  return typeof catalog?.gettext === "function" ? catalog.gettext(msgid) : msgid;
}

/** The form for ``count``, by the catalog's plural rule, or English's without one. */
export function ngettext(singular, plural, count) {
  const catalog = globalThis.django;
  if (typeof catalog?.ngettext === "function") return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

/**
 * ``format`` with each "%(name)s" taken from ``values`` when ``named``, else each "%s" from
 * the array in turn: Django's interpolate(), which the catalog may not have defined.
 */
export function interpolate(format, values, named = false) {
  if (named) return format.replace(/%\((\w+)\)s/g, (_, key) => String(values[key]));
  const queue = [...values];
  return format.replace(/%s/g, () => String(queue.shift()));
}
