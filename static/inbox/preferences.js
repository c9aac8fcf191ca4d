// The preferences panel: the language, and a switch per kind and channel, saved as soon as
// it flips; a refused save flips it back. Critical kinds are shown locked: the server refuses
// to turn them off anyway (push, which only decides whether a closed browser hears of them,
// stays the user's to choose).
import { gettext, interpolate } from "../notifications/client.js";
import { answerOf, requester } from "../notifications/http.js";
import { $, config } from "./page.js";
import { failed, flash } from "./toasts.js";

const prefRows = $("prefs-rows");
export const prefStatus = $("prefs-status");
export const prefsTable = $("prefs-table");
const languageForm = $("language-form");
const languageSelect = $("language");
export const send = requester();

// Each switch's name for screen readers: the kind's label (from the server) and the channel;
// the second, of a locked switch.
const SWITCH_NAMES = {
  in_app: [gettext("%(kind)s in the app"), gettext("%(kind)s in the app (required)")],
  email: [gettext("%(kind)s by email"), gettext("%(kind)s by email (required)")],
  push: [gettext("%(kind)s by push")],
};

async function preferencesRequest(method, body) {
  return answerOf(await send(config.preferencesPath, { method, body }));
}

function renderPreferences(kinds) {
  prefRows.replaceChildren();
  for (const pref of kinds) {
    const row = $("pref-template").content.firstElementChild.cloneNode(true);
    row.dataset.kind = pref.kind;
    row.querySelector(".pref-label").textContent = pref.label;
    row.querySelector(".pref-lock").hidden = !pref.critical;
    for (const input of row.querySelectorAll("input[data-switch]")) {
      const channel = input.dataset.switch;
      const locked = pref.critical && channel !== "push";
      input.checked = pref[channel];
      input.disabled = locked;
      input.closest(".switch").querySelector(".switch-name").textContent = interpolate(
        SWITCH_NAMES[channel][Number(locked)],
        { kind: pref.label },
        true,
      );
      if (locked) {
        input.closest(".switch").title = gettext("Required: this cannot be turned off");
      }
    }
    prefRows.append(row);
  }
  prefsTable.hidden = kinds.length === 0;
  $("prefs-empty").hidden = kinds.length !== 0;
}

/** Show the user's language (null: the browser's) and let them change it. */
function renderLanguage(language) {
  languageSelect.value = language ?? "";
  languageForm.dataset.saved = languageSelect.value;
  for (const control of languageForm.elements) control.disabled = false;
}

export async function loadPreferences() {
  try {
    const data = await preferencesRequest("GET");
    renderPreferences(data.kinds);
    renderLanguage(data.language);
  } catch (error) {
    $("prefs-error").textContent = failed(
      gettext("Your preferences could not be loaded (%(reason)s)."),
      error,
    );
    $("prefs-error").hidden = false;
  }
}

/** Switches save when they flip; the language when applied. */
export function wirePreferences() {
  prefRows.addEventListener("change", async (e) => {
    const input = e.target.closest("input[data-switch]");
    if (!input) return;
    const kind = input.closest(".pref").dataset.kind;
    const value = input.checked;
    prefStatus.textContent = gettext("Saving…");
    try {
      await preferencesRequest("PATCH", { [kind]: { [input.dataset.switch]: value } });
      prefStatus.textContent = gettext("Saved");
    } catch (error) {
      input.checked = !value;
      prefStatus.textContent = "";
      flash(failed(gettext("Could not save: %(reason)s"), error));
    }
  });

  // A new language is saved, then the page reloads to be drawn in it: its words, the catalog,
  // and <html lang dir> all come from the server. Applied with a button, not on each change of
  // the list, so that browsing the list from the keyboard never reloads the page under it.
  languageForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (languageSelect.value === languageForm.dataset.saved) return;
    prefStatus.textContent = gettext("Saving…");
    try {
      await preferencesRequest("PATCH", { language: languageSelect.value || null });
      location.reload();
    } catch (error) {
      languageSelect.value = languageForm.dataset.saved;
      prefStatus.textContent = "";
      flash(failed(gettext("Could not save: %(reason)s"), error));
    }
  });
}
