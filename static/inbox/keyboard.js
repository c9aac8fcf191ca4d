// The keyboard shortcuts of the list. Single keys act only while a notification (or one of
// its buttons) has focus, so they never take a key from typing elsewhere (WCAG 2.1.4); the
// page lists them under "Keyboard shortcuts", and each button names its own in
// aria-keyshortcuts.
import { markRead, remove } from "./actions.js";
import { archive, unarchive, unsnooze } from "./archive.js";
import { list, selected } from "./page.js";
import { select } from "./selection.js";
import { toggleMenu } from "./snooze-menu.js";
import { tabIs } from "./tabs.js";
import { pendingUndo } from "./toasts.js";

const SHORTCUTS = {
  e: (id) => (tabIs("archived") ? unarchive([id]) : archive([id])),
  s: (id, row) => {
    if (tabIs("snoozed")) unsnooze(id);
    else if (!row.querySelector('[data-action="snooze"]').hidden) {
      toggleMenu(id, row.querySelector('[data-action="snooze"]'));
    }
  },
  x: (id) => select(id, !selected.has(id)),
  r: (id) => markRead(id),
  z: () => pendingUndo?.(),
  "#": (id) => remove(id),
  Delete: (id) => remove(id),
};

function moveFocus(row, step) {
  const to = step > 0 ? row.nextElementSibling : row.previousElementSibling;
  to?.focus();
}

/** j/k and the arrows move along the list; the other keys act on its row. */
export function wireKeyboard() {
  list.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.matches("input:not([type=checkbox])")) {
      return;
    }
    const row = e.target.closest(".item");
    if (!row || row.classList.contains("skeleton")) return;
    const onRow = e.target === row;
    const step = { j: 1, k: -1, ...(onRow ? { ArrowDown: 1, ArrowUp: -1 } : {}) }[e.key];
    if (step) moveFocus(row, step);
    else if (onRow && (e.key === "Enter" || e.key === "o")) {
      row.querySelector(".title-link:not([hidden])")?.click();
    }
    else if (Object.hasOwn(SHORTCUTS, e.key)) SHORTCUTS[e.key](Number(row.dataset.id), row);
    else return;
    e.preventDefault();
  });
}
