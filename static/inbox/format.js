// Dates and numbers in the page's language (<html lang>), by Intl: the list's relative
// times, a snooze's end, the counts. Kept together so every module formats them alike.
import { gettext, interpolate } from "../notifications/client.js";

const locale = document.documentElement.lang || undefined;
const numberFormat = new Intl.NumberFormat(locale);
const relativeFormat = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
export const absoluteFormat = new Intl.DateTimeFormat(locale, {
  dateStyle: "medium",
  timeStyle: "short",
});
export const number = (n) => numberFormat.format(n);

// When a snooze ends: "2:40 PM" an hour from now, "Mon, Dec 7, 9:00 AM" days ahead.
export const timeFormat = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit" });
export const dayFormat = new Intl.DateTimeFormat(locale, {
  weekday: "short",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});

const STEPS = [
  [60, "second"],
  [60, "minute"],
  [24, "hour"],
  [7, "day"],
  [4.35, "week"],
  [12, "month"],
  [Number.POSITIVE_INFINITY, "year"],
];

/** "3 hours ago", "yesterday", "now": in the page's language, by Intl. */
export function relativeTime(iso) {
  let value = (new Date(iso).getTime() - Date.now()) / 1000;
  if (Math.abs(value) < 45) return relativeFormat.format(0, "second");
  for (const [size, unit] of STEPS) {
    if (Math.abs(value) < size) return relativeFormat.format(Math.round(value), unit);
    value /= size;
  }
  return "";
}

/** "Snoozed until Mon, Dec 7, 9:00 AM". */
export function snoozedUntil(date) {
  return interpolate(gettext("Snoozed until %(time)s"), { time: dayFormat.format(date) }, true);
}
