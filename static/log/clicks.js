// Clicks on the log's rows: a gap's load button, a fold button (a build
// section, a message's follows lines), or a line (which a click,
// unlike a text selection, selects).

/**
 * @param {HTMLElement} rowsEl
 * @param {import("./log.js").LogView} view
 * @param {object} on
 * @param {(gap: object) => void} on.gap its load button was clicked
 * @param {(line: object) => void} on.line it was clicked, not text selected in it
 */
export function onRowClick(rowsEl, view, on) {
  rowsEl.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.load");
    const row = ev.target.closest(".row");
    if (row === null) return;
    const rec = view.recordOf(row);
    if (rec === null) return;
    if (button !== null && rec.type === "gap") {
      on.gap(rec);
      return;
    }
    if (ev.target.closest("button.fold") !== null && rec.type === "line") {
      // A build section or a message with follows lines: fold or unfold.
      if (rec.group !== null) rec.group.folded = !rec.group.folded;
      else rec.folded = !rec.folded;
      view.refresh();
      return;
    }
    if (rec.type === "line" && document.getSelection().isCollapsed) on.line(rec);
  });
}
