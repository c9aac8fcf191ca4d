// The tabs (all, one per category, snoozed, archived): which notifications each one lists,
// which API filter loads them, and moving between them by mouse or arrow keys. A new tab
// starts its list afresh.
import { loadFirst, resetList } from "./list.js";
import { $, selected, tabs } from "./page.js";
import { renderSelection } from "./selection.js";
import { closeMenu } from "./snooze-menu.js";

export let currentTab = tabs.find((tab) => tab.getAttribute("aria-selected") === "true") ?? tabs[0];

export const isSnoozed = (n) => Boolean(n.snoozed_until) && new Date(n.snoozed_until) > Date.now();
export const tabIs = (name) => currentTab.dataset.tab === name;

/** Whether ``n`` belongs in the current tab, by its state and category. */
export function belongs(n) {
  switch (currentTab.dataset.tab) {
    case "archived":
      return Boolean(n.archived);
    case "snoozed":
      return isSnoozed(n) && !n.archived;
    case "category":
      return !n.archived && !isSnoozed(n) && n.category === currentTab.dataset.category;
    default:
      return !n.archived && !isSnoozed(n);
  }
}

/** The current tab's filter of the API's list. */
export function tabFilter() {
  if (tabIs("archived")) return { archived: true };
  if (tabIs("snoozed")) return { snoozed: true };
  if (tabIs("category")) return { category: currentTab.dataset.category };
  return {};
}

function selectTab(tab) {
  if (tab === currentTab) return;
  currentTab = tab;
  for (const each of tabs) {
    const chosen = each === tab;
    each.setAttribute("aria-selected", String(chosen));
    each.tabIndex = chosen ? 0 : -1;
  }
  $("panel").setAttribute("aria-labelledby", tab.id);
  closeMenu(false);
  selected.clear();
  resetList();
  renderSelection();
  loadFirst();
}

/** Tabs follow clicks, and arrow keys (mirrored right to left), Home and End. */
export function wireTabs() {
  $("tabs").addEventListener("click", (e) => {
    const tab = e.target.closest('[role="tab"]');
    if (tab) selectTab(tab);
  });

  // Arrow keys move along the tabs (mirrored right to left), Home and End to either end.
  $("tabs").addEventListener("keydown", (e) => {
    const at = tabs.indexOf(e.target.closest('[role="tab"]'));
    if (at === -1) return;
    const rtl = getComputedStyle(e.currentTarget).direction === "rtl";
    const step = { ArrowRight: rtl ? -1 : 1, ArrowLeft: rtl ? 1 : -1 }[e.key];
    let to = null;
    if (step) to = (at + step + tabs.length) % tabs.length;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = tabs.length - 1;
    if (to === null) return;
    e.preventDefault();
    tabs[to].focus();
    selectTab(tabs[to]);
  });
}
