// The page's shared parts: its configuration, the elements every module reaches, the API
// helper, and the current tab's notifications and selection. One place for them, so that the
// modules share one list and one API helper instead of each looking them up again.
import { createApi } from "../notifications/client.js";

export const config = JSON.parse(document.getElementById("inbox-config").textContent);
export const $ = (id) => document.getElementById(id);
export const list = $("list");
export const badge = $("badge");
export const bell = $("bell");
export const summary = $("summary");
export const markAllButton = $("mark-all");
export const loadMoreButton = $("load-more");
export const emptyState = $("empty");
export const loadError = $("load-error");
export const toasts = $("toasts");
export const conn = $("conn");
export const tabs = [...document.querySelectorAll('#tabs [role="tab"]')];
export const pageTitle = document.title;

export const api = createApi({ apiPath: config.apiPath });
export const items = new Map(); // id -> {data, el}, the current tab's
export const selected = new Set(); // ids
