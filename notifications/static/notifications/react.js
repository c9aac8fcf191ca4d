/**
 * Live notifications in React: a hook over client.js, for a bundler (it imports "react").
 *
 *   import { useNotifications } from "./react.js"; // client.js beside it
 *   const { status, notifications, unreadCount } = useNotifications();
 *
 * Same origin, with the Django session: no options. From another origin: `baseUrl` (the
 * notifications site) and `getToken` (an access token, or a function, sync or async, that
 * returns a current one; a new inline function each render does not reconnect). `name`
 * scopes the one stream the browser's tabs share: include the user's id.
 *
 * `status`: "connecting", then client.js's "live" | "reconnecting" | "offline"; client.js's
 * `statusLabel(status)` says it in words (the page's Django catalog's, or English).
 * `notifications`: what the stream delivered, newest first, each once (by id), with `read`
 * kept up to date by `read` events; an archived or snoozed one leaves it, and an unarchived
 * or unsnoozed one (its event carries it) comes back in its place.
 * `unreadCount`: the server's count (null until known). `connected`, `read`, `archived`,
 * `unarchived`, `snoozed` and `unsnoozed` carry it and are taken as given. A notification
 * does not: `connected` already counts the ones the stream replays right after it, and a
 * frame does not say whether it is replayed or live, so adding one per notification would
 * count replayed ones twice. After notifications the hook asks the API instead, one request
 * at a time: a burst that arrives meanwhile costs one more request, not one each, and an
 * answer asked before the stream's latest count is dropped as older than it.
 */

import { useEffect, useRef, useState } from "react";
import { connect, createApi, resolveToken } from "./client.js";

/** Follow the user's notifications while the component is mounted (see above). */
export function useNotifications({ baseUrl = "", getToken = null, name } = {}) {
  const [status, setStatus] = useState("connecting");
  const [notifications, setNotifications] = useState([]);
  const [unreadCount, setUnreadCount] = useState(null);
  // The latest getToken, read at each connection: a new one each render must not reconnect.
  const token = useRef(getToken);
  useEffect(() => {
    token.current = getToken;
  });
  const withToken = Boolean(getToken);

  useEffect(() => {
    const currentToken = withToken ? () => resolveToken(token.current) : null;
    const counter = unreadCounter(createApi({ baseUrl, getToken: currentToken }), setUnreadCount);
    // A state change: the list changes by ``change`` and the count is the event's.
    const moved = (data, change) => {
      setNotifications((list) => change(list, data));
      counter.given(data.unread_count);
    };
    const client = connect({
      baseUrl,
      getToken: currentToken,
      name,
      on: {
        status: setStatus,
        connected: ({ unread_count }) => counter.given(unread_count),
        notification: (notification) => {
          setNotifications((list) => withNotification(list, notification));
          counter.changed();
        },
        read: ({ ids, unread_ids = [], unread_count }) => {
          setNotifications((list) => withReadFlags(list, ids, unread_ids));
          counter.given(unread_count);
        },
        archived: (data) => moved(data, withoutIds),
        snoozed: (data) => moved(data, withoutIds),
        unarchived: (data) => moved(data, withNotifications),
        unsnoozed: (data) => moved(data, withNotifications),
        resync: ({ reason }) => {
          // The server never issued this tab's position (another database): what the list
          // holds is not this server's, and the stream goes on from its newest.
          if (reason === "unknown_position") setNotifications([]);
        },
      },
    });
    counter.changed(); // a tab that joins another tab's stream gets no `connected`
    return () => {
      client.close();
      counter.stop();
      // Another baseUrl or name is another stream: start again from nothing.
      setStatus("connecting");
      setNotifications([]);
      setUnreadCount(null);
    };
  }, [baseUrl, withToken, name]);

  return { status, notifications, unreadCount };
}

/**
 * Keep ``set`` at the server's unread count: ``given(n)`` takes a count from the stream,
 * ``changed()`` asks the API, coalesced as the module's docstring says.
 */
function unreadCounter(api, set) {
  let given = 0; // counts taken from the stream so far
  let asking = false;
  let again = false;
  let stopped = false;

  async function ask() {
    asking = true;
    try {
      do {
        again = false;
        const before = given;
        const count = await api.unreadCount();
        if (!stopped && before === given) set(count);
      } while (again && !stopped);
    } catch (error) {
      console.warn("notifications: cannot read the unread count:", error);
    } finally {
      asking = false;
    }
  }

  return {
    given(count) {
      given += 1;
      set(count);
    },
    changed() {
      if (asking) again = true;
      else ask();
    },
    stop() {
      stopped = true;
    },
  };
}

/** Return ``list`` with ``notification`` in its place by seq, newest first, unless held. */
function withNotification(list, notification) {
  if (list.some((held) => held.id === notification.id)) return list;
  const at = list.findIndex((held) => held.seq < notification.seq);
  if (at === -1) return [...list, notification];
  return [...list.slice(0, at), notification, ...list.slice(at)];
}

/** Return ``list`` without the event's ``ids`` (archived or snoozed). */
function withoutIds(list, { ids = [] }) {
  const gone = new Set(ids);
  return list.some((n) => gone.has(n.id)) ? list.filter((n) => !gone.has(n.id)) : list;
}

/**
 * Return ``list`` with the event's ``notifications`` (unarchived or unsnoozed) put back, each
 * in its place by seq: the event's copy replaces a held one, whose ``read`` may be stale.
 */
function withNotifications(list, { notifications = [] }) {
  const ids = notifications.map((n) => n.id);
  return notifications.reduce(withNotification, withoutIds(list, { ids }));
}

/** Return ``list`` with ``ids`` marked read and ``unreadIds`` unread. */
function withReadFlags(list, ids, unreadIds) {
  const read = new Set(ids);
  const unread = new Set(unreadIds);
  return list.map((n) =>
    read.has(n.id) || unread.has(n.id) ? { ...n, read: read.has(n.id) } : n,
  );
}
