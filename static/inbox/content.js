// A notification's title and action links, for a row or a toast. Links go only to this
// site or http(s): a user-supplied URL never becomes a script, and text stays text.

/**
 * A link only to a path on this site or an absolute http(s) URL, as the server stores them
 * (notifications/content.py); anything else stays text, even if stored before those rules:
 * `javascript:`, and `//evil.example` or `/\evil.example`, which a browser reads as another site.
 */
function safeUrl(url) {
  if (!url || typeof url !== "string") return null;
  if (!/^(\/(?![/\\])|https?:\/\/)/i.test(url) || /[\\\p{C}\p{Z}]/u.test(url)) return null;
  try {
    const parsed = new URL(url, location.href);
    return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

export function fillTitle(root, n) {
  const link = root.querySelector(".title-link");
  const text = root.querySelector(".title-text");
  const href = safeUrl(n.url);
  link.hidden = !href;
  text.hidden = Boolean(href);
  if (href) {
    link.href = href;
    link.textContent = n.title;
    text.textContent = "";
  } else {
    link.removeAttribute("href");
    link.textContent = "";
    text.textContent = n.title;
  }
}

/** The notification's actions as links (only to http(s) or this site), in a row or a toast. */
export function fillLinks(holder, n) {
  holder.replaceChildren();
  for (const action of n.actions ?? []) {
    const href = safeUrl(action.url);
    if (!href) continue;
    const link = document.createElement("a");
    link.className = "btn btn-secondary btn-small";
    link.href = href;
    link.textContent = action.label;
    if (new URL(href).origin !== location.origin) link.rel = "noopener noreferrer";
    holder.append(link);
  }
  holder.hidden = holder.childElementCount === 0;
}
