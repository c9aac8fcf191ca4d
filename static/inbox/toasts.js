// Toasts: a new notification, a short message (a failure, a snooze), or an archive with
// "Undo", in one live region. Hovering or focusing one keeps it: nobody should have to race
// a timer.
import { gettext, interpolate } from "../notifications/client.js";
import { followed } from "./actions.js";
import { fillLinks, fillTitle } from "./content.js";
import { paintIcon } from "./icons.js";
import { $, toasts } from "./page.js";

const TOAST_MS = 7000;
const MAX_TOASTS = 4;
export let pendingUndo = null; // the newest undo still offered, for the "z" key

/** Show ``n`` as a toast, with its actions and any ``buttons``; return the toast. */
export function showToast(n, buttons = []) {
  const el = $("toast-template").content.firstElementChild.cloneNode(true);
  el.dataset.id = n.id;
  paintIcon(el.querySelector(".icon"), n.kind);
  fillTitle(el, n);
  const body = el.querySelector(".toast-body");
  body.textContent = n.body;
  body.hidden = !n.body;
  const links = el.querySelector(".links");
  fillLinks(links, n);
  links.append(...buttons);
  links.hidden = links.childElementCount === 0;
  el.querySelector(".toast-close").addEventListener("click", () => dismiss(el));
  el.addEventListener("click", (e) => {
    if (e.target.closest("a[href]")) followed(n);
  });
  // Hovering or focusing a toast keeps it: nobody should have to race a timer.
  let timer = setTimeout(() => dismiss(el), TOAST_MS);
  const hold = () => clearTimeout(timer);
  const release = () => {
    clearTimeout(timer);
    timer = setTimeout(() => dismiss(el), TOAST_MS / 2);
  };
  el.addEventListener("mouseenter", hold);
  el.addEventListener("focusin", hold);
  el.addEventListener("mouseleave", release);
  el.addEventListener("focusout", release);
  toasts.append(el);
  while (toasts.children.length > MAX_TOASTS) toasts.firstElementChild.remove();
  return el;
}

function dismiss(el) {
  if (el.classList.contains("leaving")) return;
  el.classList.add("leaving");
  el.dispatchEvent(new Event("dismiss"));
  const done = () => el.remove();
  el.addEventListener("animationend", done, { once: true });
  setTimeout(done, 400); // reduced motion: no animation, no animationend
}

/** A short message in the same live region as the toasts; ``kind`` picks its icon. */
export function say(message, kind, buttons = []) {
  return showToast({ id: 0, kind, title: message, body: "", url: "", actions: [] }, buttons);
}

/** A failed action's message. */
export function flash(message) {
  say(message, "error");
}

/** Say ``message`` with an "Undo" button that calls ``undo`` once (or the "z" key does). */
export function offerUndo(message, undo) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-secondary btn-small";
  button.textContent = gettext("Undo");
  const el = say(message, "archived", [button]);
  const run = () => {
    if (pendingUndo === run) pendingUndo = null;
    if (el.classList.contains("leaving")) return;
    dismiss(el);
    undo();
  };
  button.addEventListener("click", run);
  el.addEventListener("dismiss", () => {
    if (pendingUndo === run) pendingUndo = null;
  });
  pendingUndo = run;
}

/** ``format`` (translated, with a "%(reason)s") filled with the error's message. */
export function failed(format, error) {
  return interpolate(format, { reason: error.message }, true);
}
