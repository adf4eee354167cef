// Keyboard shortcuts: one key each, never while typing into a text field and
// never with Ctrl, Meta or Alt (those belong to the browser).

const TEXT_INPUTS = new Set(["text", "search", "password", "number", "email", "url"]);

// Keys typed into a text field are text, not shortcuts (a checkbox is not one).
function typing(target) {
  return (target instanceof HTMLInputElement && TEXT_INPUTS.has(target.type))
    || target instanceof HTMLTextAreaElement || target?.isContentEditable;
}

/**
 * @param {Record<string, () => void>} actions by `KeyboardEvent.key`
 * @param {() => boolean} onEscape Escape, even in a text field; true if handled
 */
export function bindKeys(actions, onEscape) {
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "Escape") {
      if (onEscape()) ev.preventDefault();
      return;
    }
    if (typing(ev.target)) return;
    const action = actions[ev.key];
    if (action !== undefined) {
      ev.preventDefault();
      action();
    }
  });
}
