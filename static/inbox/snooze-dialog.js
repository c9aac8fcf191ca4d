// The dialog that snoozes a notification until a date and time of one's choosing, within the
// 90 days the server accepts, saying what is wrong with a refused choice.
import { gettext } from "../notifications/client.js";
import { snooze } from "./archive.js";
import { $, list } from "./page.js";
import { snoozeTime } from "./snooze-menu.js";
import { currentTab } from "./tabs.js";

const picker = $("snooze-dialog");
const pickerInput = $("snooze-at");
const pickerError = $("snooze-error");

let pickerFor = null; // {id, button}

/** ``date`` as a datetime-local input's value: local wall time, to the minute. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const MAX_SNOOZE_MS = 90 * 86_400_000; // the server refuses a snooze longer than 90 days

export function openPicker(target) {
  pickerFor = target;
  const now = new Date();
  pickerInput.min = localInput(now);
  pickerInput.max = localInput(new Date(now.getTime() + MAX_SNOOZE_MS - 60_000));
  pickerInput.value = localInput(snoozeTime("tomorrow", now));
  pickerInput.removeAttribute("aria-invalid");
  pickerError.hidden = true;
  picker.showModal();
}

function closePicker() {
  picker.close();
}

/** Closing hands focus back; the form checks the date, then snoozes. */
export function wireSnoozeDialog() {
  picker.addEventListener("close", () => {
    const target = pickerFor;
    pickerFor = null;
    if (!target) return;
    const row = list.querySelector('.item[tabindex="0"]');
    (target.button.isConnected ? target.button : (row ?? currentTab)).focus();
  });

  $("snooze-cancel").addEventListener("click", closePicker);

  $("snooze-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const until = new Date(pickerInput.value); // no zone: the reader's local time
    const ahead = until.getTime() - Date.now();
    let problem = null;
    if (!pickerInput.value || Number.isNaN(ahead)) problem = gettext("Choose a date and a time.");
    else if (ahead <= 0) problem = gettext("Choose a time in the future.");
    else if (ahead > MAX_SNOOZE_MS) problem = gettext("Choose a time within 90 days.");
    if (problem) {
      pickerError.textContent = problem;
      pickerError.hidden = false;
      pickerInput.setAttribute("aria-invalid", "true");
      pickerInput.focus();
      return;
    }
    const { id } = pickerFor;
    closePicker();
    snooze(id, until);
  });
}
