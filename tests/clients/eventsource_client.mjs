// Follow one user's notifications with the npm "eventsource" package (v4), in Node.
//
//   NOTIFICATIONS_URL=https://shop.example.com ACCESS_TOKEN=... node eventsource_client.mjs
//
// Prints one JSON line per event. EventSource reconnects on its own after a network error,
// sending Last-Event-ID (every `connected` event carries one), so nothing is missed or
// repeated. Its `fetch` option runs for every connection, reconnections included: each one
// gets a fresh one-minute stream ticket, never a ticket that may have expired meanwhile.
// (Node could send `Authorization: Bearer` from `fetch` instead; tickets are shown because
// they are what a client that cannot set headers must do.)
import { EventSource } from "eventsource";

const base = process.env.NOTIFICATIONS_URL;
const accessToken = process.env.ACCESS_TOKEN;
const print = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);

async function mintTicket() {
  const response = await fetch(new URL("/api/events/ticket/", base), {
    method: "POST",
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  if (!response.ok) throw new Error(`stream ticket refused: HTTP ${response.status}`);
  print({ ticket: true });
  return (await response.json()).ticket;
}

const source = new EventSource(new URL("/api/events/", base), {
  fetch: async (url, init) => {
    const withTicket = new URL(url);
    withTicket.searchParams.set("token", await mintTicket());
    return fetch(withTicket, init);
  },
});

for (const name of ["connected", "notification", "read", "resync"]) {
  source.addEventListener(name, (e) => print({ event: name, id: e.lastEventId, data: JSON.parse(e.data) }));
}
// A network error: EventSource retries by itself. Any other status closes it for good.
source.onerror = (e) => print({ error: e.message ?? "error", code: e.code ?? null, state: source.readyState });
