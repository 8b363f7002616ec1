// Building the viewer's rows from log entries in order: sections (from sectionMark), a
// line's updates folded into it, streams and their filter. Rows are made by rows.js.
import { sectionMark } from "/static/sections.js";
import { lineFor, fillLine, sectionHead, setDuration } from "/static/rows.js";

// Building rows. A context is what a run of messages knows as it is read in order: the
// section lines go into, and each stream's newest line (which an update replaces).
export const newContext = () => ({ section: 0, lastOf: new Map() });
const sections = new Map(); // a section's start seq → its state
export const entryOf = new WeakMap(); // a row → the entry it shows
export const built = { last: null }; // the newest entry placed

// The page's elements this module works on, and what it calls when a stream filter
// changes.
let rows, streamsBox, onFilter;
export function setup(o) {
  ({ rows, streams: streamsBox, onFilter } = o);
}

// place turns entry into rows appended to out, in context c.
export function place(entry, c, out) {
  built.last = entry;
  const mark = sectionMark(entry);
  if (mark?.kind === "start") {
    const st = startSection(entry, mark, c);
    const head = sectionHead(entry, mark.title);
    st.head = head;
    head.querySelector("button").addEventListener("click", () => {
      st.toggled = true;
      st.open = !st.open;
      applySection(st);
    });
    entryOf.set(head, entry);
    out.push(head);
    return;
  }
  if (mark?.kind === "end") {
    const marker = document.createElement("div"); // kept, hidden: where the section ended
    marker.className = "section-end";
    marker.dataset.seq = marker.dataset.first = entry.seq;
    entryOf.set(marker, entry);
    out.push(marker);
    if (mark.text) addLine(entry, c, out);
    endSection(c, entry);
    return;
  }
  const prev = c.lastOf.get(entry.stream ?? "");
  if (entry.update && prev) {
    fillLine(prev, entry);
    entryOf.set(prev, entry);
  } else addLine(entry, c, out);
  noteFailure(entry, c);
}

// pass follows entry in context c without building a row for it: a message that cannot
// be in view (older than the newest screen of a fast live log). Its section is kept track
// of as place would; its stream's newest line is then one not built, so a later update of
// it shows as a line of its own until the page around it is read (joinBoundary folds it).
export function pass(entry, c) {
  built.last = entry;
  const mark = sectionMark(entry);
  c.lastOf.delete(entry.stream ?? "");
  if (mark?.kind === "start") startSection(entry, mark, c);
  else if (mark?.kind === "end") endSection(c, entry);
  else noteFailure(entry, c);
}

// shown says whether an entry (or a gap, {gap}) would take a visible row of its own under
// the level and stream filters: an update folds into its line.
const RANK = { debug: 0, info: 1, success: 1, warning: 2, error: 3, critical: 4 };
export function shown(item) {
  if (item.gap !== undefined) return true;
  if (item.update) return false;
  const log = rows.parentElement;
  if ((RANK[item.level] ?? 1) < (RANK[log.dataset.min] ?? 0)) return false;
  const i = item.stream ? streamNames.indexOf(item.stream) : -1;
  return i < 0 || !` ${log.dataset.hide ?? ""} `.includes(` s${i} `);
}

// folded says whether the section open in context c is folded.
export const folded = (c) => c.section !== 0 && sections.get(c.section)?.open === false;

// startSection ends the open section and opens the one entry starts.
function startSection(entry, mark, c) {
  endSection(c, entry);
  let st = sections.get(entry.seq);
  if (!st) {
    st = { seq: entry.seq, from: entry.timestamp, failed: false, expanded: mark.expanded, collapsed: mark.collapsed, toggled: false, open: !mark.collapsed || mark.expanded };
    sections.set(entry.seq, st);
  }
  c.section = entry.seq;
  return st;
}

// noteFailure marks the open section failed when entry is an error.
function noteFailure(entry, c) {
  if (c.section && (entry.level === "error" || entry.level === "critical")) {
    const st = sections.get(c.section);
    st.failed = true;
    st.head?.classList.add("has-error");
  }
}

function addLine(entry, c, out) {
  const line = lineFor(entry, entry.stream ? `stream-${streamIndex(entry.stream)}` : "");
  if (entry.update) line.dataset.update = "1";
  if (c.section) line.dataset.sec = c.section;
  entryOf.set(line, entry);
  c.lastOf.set(entry.stream ?? "", line);
  out.push(line);
}

// A section ends at its end marker, the next start, or the task's end. Once ended it is
// collapsed, unless it holds an error, Buildkite's +++ asked for it open, or the reader
// toggled it.
export function endSection(c, entry) {
  if (!c.section) return;
  const st = sections.get(c.section);
  c.section = 0;
  if (entry && st.head) setDuration(st.head, st.from, entry.timestamp);
  if (!st.toggled) st.open = st.failed || (st.expanded && !st.collapsed);
  applySection(st);
}

export function applySection(st) {
  st.head?.classList.toggle("closed", !st.open);
  st.head?.querySelector("button").setAttribute("aria-expanded", String(st.open));
  for (const row of rows.querySelectorAll(`[data-sec="${st.seq}"]:not(.section-head)`)) row.classList.toggle("folded", !st.open);
}

export function applySections(nodes) {
  for (const row of nodes) {
    const st = row.dataset.sec && !row.classList.contains("section-head") && sections.get(+row.dataset.sec);
    if (st) row.classList.toggle("folded", !st.open);
  }
}

// reveal opens the section around row.
export function reveal(row) {
  const st = row?.dataset.sec && sections.get(+row.dataset.sec);
  if (st && !st.open) {
    st.open = true;
    st.toggled = true;
    applySection(st);
  }
}

// Streams: one tick per stream, shown once a second stream appears; an unticked stream's
// lines are hidden by a token on the log (.log[data-hide~="sN"] .stream-N), the rows stay.
const streamNames = [];
function streamIndex(name) {
  let i = streamNames.indexOf(name);
  if (i >= 0) return i;
  i = streamNames.push(name) - 1;
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = true;
  box.dataset.token = `s${i}`;
  box.addEventListener("change", () => {
    onFilter([...streamsBox.querySelectorAll("input:not(:checked)")].map((b) => b.dataset.token).join(" "));
  });
  label.append(box, ` ${name}`);
  streamsBox.append(label);
  streamsBox.hidden = streamNames.length < 2;
  return i;
}
