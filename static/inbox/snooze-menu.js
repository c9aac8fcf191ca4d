// The snooze menu of a row: in an hour, tomorrow, next week (each with the time it stands
// for) or a date of one's choosing (the date dialog). It sits by its button and works from
// the keyboard like any menu.
import { dayFormat, timeFormat } from "./format.js";
import { snooze } from "./archive.js";
import { $ } from "./page.js";
import { openPicker } from "./snooze-dialog.js";

const menu = $("snooze-menu");
const menuItems = [...menu.querySelectorAll('[role="menuitem"]')];

let menuFor = null; // {id, button}

/**
 * The moment each choice of the menu stands for, from ``now``, in the reader's time zone:
 * in an hour, tomorrow at 9:00, or next Monday at 9:00 (on a Sunday, the Monday after
 * tomorrow's: "next week" never repeats "tomorrow").
 */
export function snoozeTime(choice, now = new Date()) {
  if (choice === "hour") return new Date(now.getTime() + 3_600_000);
  const at = new Date(now);
  let days = 1;
  if (choice === "week") days = (8 - at.getDay()) % 7 || 7;
  if (choice === "week" && days === 1) days = 8;
  at.setDate(at.getDate() + days);
  at.setHours(9, 0, 0, 0);
  return at;
}

export function toggleMenu(id, button) {
  const again = menuFor?.button === button;
  closeMenu(again);
  if (again) return;
  menuFor = { id, button };
  for (const item of menuItems) {
    const hint = item.querySelector(".menu-hint");
    const choice = item.dataset.snooze;
    const format = choice === "hour" ? timeFormat : dayFormat;
    if (hint) hint.textContent = format.format(snoozeTime(choice));
  }
  menu.hidden = false;
  button.setAttribute("aria-expanded", "true");
  positionMenu();
  menuItems[0].focus();
}

export function closeMenu(restoreFocus = true) {
  if (!menuFor) return;
  const { button } = menuFor;
  menuFor = null;
  menu.hidden = true;
  button.setAttribute("aria-expanded", "false");
  if (restoreFocus && button.isConnected) button.focus();
}

/** Below its button (above it near the bottom), its end edge on the button's end edge. */
function positionMenu() {
  if (!menuFor) return;
  const box = menuFor.button.getBoundingClientRect();
  const rtl = getComputedStyle(document.documentElement).direction === "rtl";
  const { offsetWidth: width, offsetHeight: height } = menu;
  const left = rtl ? box.left : box.right - width;
  menu.style.left = `${Math.max(8, Math.min(left, innerWidth - width - 8))}px`;
  const below = box.bottom + 4;
  const top = below + height > innerHeight - 8 ? Math.max(8, box.top - 4 - height) : below;
  menu.style.top = `${top}px`;
}

/** The menu follows its button, closes on a click elsewhere, and answers keys and clicks. */
export function wireSnoozeMenu() {
  addEventListener("resize", positionMenu);
  addEventListener("scroll", positionMenu, { passive: true });
  document.addEventListener("pointerdown", (e) => {
    if (menuFor && !menu.contains(e.target) && !menuFor.button.contains(e.target)) closeMenu(false);
  });

  menu.addEventListener("keydown", (e) => {
    const at = menuItems.indexOf(document.activeElement);
    const to = {
      ArrowDown: (at + 1) % menuItems.length,
      ArrowUp: (at - 1 + menuItems.length) % menuItems.length,
      Home: 0,
      End: menuItems.length - 1,
    }[e.key];
    if (to !== undefined) menuItems[to].focus();
    else if (e.key === "Escape") closeMenu();
    else if (e.key === "Tab") closeMenu(false);
    else return;
    e.preventDefault();
  });

  menu.addEventListener("click", (e) => {
    const item = e.target.closest('[role="menuitem"]');
    if (!item || !menuFor) return;
    const chosen = menuFor;
    // Back on the row's button first: when the row leaves, focus moves on to its neighbour.
    closeMenu();
    if (item.dataset.snooze === "pick") openPicker(chosen);
    else snooze(chosen.id, snoozeTime(item.dataset.snooze));
  });
}
