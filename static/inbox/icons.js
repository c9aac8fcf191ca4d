// A notification's icon and the name of its kind, from its kind ("order.shipped"): the
// same look for a row and a toast.
import { gettext } from "../notifications/client.js";

const ICONS = {
  bell: "M12 3a6 6 0 0 0-6 6v3.6l-1.7 3a1 1 0 0 0 .9 1.4h13.6a1 1 0 0 0 .9-1.4l-1.7-3V9a6 6 0 0 0-6-6Zm-2.5 16.5a2.5 2.5 0 0 0 5 0",
  box: "M3.5 7.5 12 3l8.5 4.5v9L12 21l-8.5-4.5v-9Zm0 0L12 12m0 0 8.5-4.5M12 12v9",
  truck: "M2.5 6h11v10h-11zM13.5 9.5h4l3 3.5V16h-7M7 18.5a1.8 1.8 0 1 0 0-.1m10 .1a1.8 1.8 0 1 0 0-.1",
  check: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18Zm-4-9 3 3 5-6",
  cross: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18ZM9 9l6 6m0-6-6 6",
  card: "M3 6.5h18v11H3zM3 10h18M7 14.5h4",
  alert: "M12 3.5 2.5 20h19L12 3.5ZM12 10v4.5m0 2.5v.5",
  clock: "M12 21a8 8 0 1 0 0-16 8 8 0 0 0 0 16Zm0-11.5V13l2.5 2",
  archive: "M3.5 4.5h17v4h-17zM5 8.5V19a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1V8.5M10 12.5h4",
};

/** Pick an icon and a colour for a kind such as "order.shipped" or "warning". */
function look(kind) {
  const [family, detail] = String(kind).split(".", 2);
  if (family === "order") {
    return (
      {
        paid: ["card", "accent"],
        shipped: ["truck", "accent"],
        delivered: ["check", "success"],
        cancelled: ["cross", "danger"],
      }[detail] ?? ["box", "accent"]
    );
  }
  return (
    {
      success: ["check", "success"],
      warning: ["alert", "warning"],
      error: ["alert", "danger"],
      alert: ["alert", "danger"],
      snoozed: ["clock", "accent"],
      archived: ["archive", "success"],
    }[family] ?? ["bell", "neutral"]
  );
}

export function paintIcon(holder, kind) {
  const [name, tone] = look(kind);
  holder.dataset.tone = tone;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.8");
  path.setAttribute("stroke-linecap", "round");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  holder.replaceChildren(svg);
}

// The families of kinds this site sends, in the reader's words; another shows its own name.
const FAMILIES = {
  order: gettext("Order"),
  account: gettext("Account"),
  info: gettext("Info"),
  success: gettext("Success"),
  warning: gettext("Warning"),
  error: gettext("Error"),
  alert: gettext("Alert"),
};

/** "order.shipped" -> "Order": the title already says what happened. */
export function kindLabel(kind) {
  const family = String(kind).split(".", 1)[0];
  if (Object.hasOwn(FAMILIES, family)) return FAMILIES[family];
  return family ? family[0].toUpperCase() + family.slice(1) : "";
}
