// Selecting notifications for bulk changes: a box per row, "Select all", and the bar of
// bulk buttons (mark read, archive, move to the inbox) that shows while any is selected.
import { interpolate, ngettext } from "../notifications/client.js";
import { markManyRead } from "./actions.js";
import { archive, unarchive } from "./archive.js";
import { number } from "./format.js";
import { $, items, selected } from "./page.js";
import { currentTab, tabIs } from "./tabs.js";

const selectAll = $("select-all");

export function select(id, on) {
  const item = items.get(id);
  if (!item) return;
  if (on) selected.add(id);
  else selected.delete(id);
  item.el.querySelector(".select-box").checked = on;
  item.el.classList.toggle("selected", on);
  renderSelection();
}

export function renderSelection() {
  const count = selected.size;
  const bulk = $("bulk");
  // A bulk button that hides with the selection hands its focus to "Select all".
  const handOver = count === 0 && bulk.contains(document.activeElement);
  $("toolbar").hidden = items.size === 0;
  bulk.hidden = count === 0;
  $("bulk-read").hidden = tabIs("archived") || tabIs("snoozed");
  $("bulk-archive").hidden = tabIs("archived");
  $("bulk-unarchive").hidden = !tabIs("archived");
  const words = ngettext("%(count)s selected", "%(count)s selected", count);
  $("selected-count").textContent = count ? interpolate(words, { count: number(count) }, true) : "";
  selectAll.checked = count > 0 && count === items.size;
  selectAll.indeterminate = count > 0 && count < items.size;
  if (handOver) (items.size ? selectAll : currentTab).focus();
}

export function clearSelection() {
  for (const id of [...selected]) select(id, false);
}

/** “Select all” and the bulk buttons. */
export function wireSelection() {
  selectAll.addEventListener("change", () => {
    const on = selectAll.checked; // each select() below redraws the box
    for (const id of items.keys()) select(id, on);
  });

  $("bulk-clear").addEventListener("click", clearSelection);
  $("bulk-read").addEventListener("click", () => markManyRead([...selected]));
  $("bulk-archive").addEventListener("click", () => archive([...selected], { bulk: true }));
  $("bulk-unarchive").addEventListener("click", () => unarchive([...selected], { bulk: true }));
}
