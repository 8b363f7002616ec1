// The rows of the viewer's log: a message's line, a gap, a section's head, and the marks
// of a search in them. Every text is set with textContent or drawn by termtext.js: no
// text of a message is parsed as HTML.
import { render } from "/static/termtext.js";
import { duration } from "/static/sections.js";

// Times show the clock, or the time since the task's first message.
export const clock = { elapsed: false, firstIso: null };
const pad = (n, w = 2) => String(n).padStart(w, "0");
export function timeOf(iso) {
  const d = new Date(iso);
  if (!clock.elapsed) return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const ms = Math.max(0, d - new Date(clock.firstIso ?? iso));
  return `+${pad(Math.floor(ms / 3600000))}:${pad(Math.floor(ms / 60000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)}`;
}

// timeLink is a message's time, linking to it (#seq-N).
function timeLink(entry) {
  const time = document.createElement("time");
  time.append(document.createElement("a"));
  setTime(time, entry);
  return time;
}

function setTime(time, entry) {
  time.dateTime = entry.timestamp;
  const link = time.firstElementChild;
  link.href = `#seq-${entry.seq}`;
  link.textContent = timeOf(entry.timestamp);
  link.title = entry.received ? `Link to message ${entry.seq} (received ${entry.received})` : `Link to message ${entry.seq}`;
}

// raw holds each message element's text as published, which its styles are drawn from.
const raw = new WeakMap();
export const search = { query: "" };

// lineFor is a new row for entry; streamClass is the class of its stream, if it has one.
export function lineFor(entry, streamClass) {
  const line = document.createElement("div");
  line.dataset.first = entry.seq;
  const level = document.createElement("span");
  level.className = "level";
  const message = document.createElement("span");
  message.className = "message";
  line.append(timeLink(entry), level, message);
  fillLine(line, entry);
  if (entry.stream) {
    line.dataset.stream = entry.stream;
    line.classList.add(streamClass);
  }
  return line;
}

// fillLine shows entry in line: a new line, or a new state of one (update).
export function fillLine(line, entry) {
  const [time, level, message] = line.children;
  if (line.dataset.level !== entry.level) {
    if (line.dataset.level) line.classList.remove(`level-${line.dataset.level}`);
    line.classList.add("line", `level-${entry.level}`);
    line.dataset.level = entry.level;
    level.textContent = entry.level;
  }
  line.dataset.seq = entry.seq;
  line.id = `seq-${entry.seq}`;
  setTime(time, entry);
  raw.set(message, entry.message);
  highlight(message);
}

export function gapLine(text) {
  const line = document.createElement("div");
  line.className = "line gap";
  line.textContent = text;
  return line;
}

// sectionHead is the row that titles a section: reached with Tab, toggled with Enter or
// Space (a button), with the section's time and duration.
export function sectionHead(entry, title) {
  const head = document.createElement("div");
  head.className = "section-head";
  head.id = `seq-${entry.seq}`;
  head.dataset.seq = entry.seq;
  head.dataset.sec = entry.seq;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "section-title";
  toggle.textContent = title;
  const took = document.createElement("span");
  took.className = "section-duration";
  head.append(timeLink(entry), toggle, took);
  return head;
}

export function setDuration(head, fromIso, toIso) {
  head.querySelector(".section-duration").textContent = duration(fromIso, toIso);
}

// highlight draws message again and marks the search's matches in its text, within its
// styles.
export function highlight(message) {
  render(message, raw.get(message) ?? message.textContent);
  const query = search.query;
  if (!query) return;
  const walker = document.createTreeWalker(message, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.data;
    const { lower, start, end } = lowered(text);
    let i = lower.indexOf(query);
    if (i < 0) continue;
    const marked = document.createDocumentFragment();
    let at = 0;
    for (; i >= 0; i = lower.indexOf(query, i + query.length)) {
      const from = start ? start[i] : i, to = end ? end[i + query.length - 1] : i + query.length;
      if (from < at) continue; // inside a character the last match took
      const mark = document.createElement("mark");
      mark.textContent = text.slice(from, to);
      marked.append(text.slice(at, from), mark);
      at = to;
    }
    marked.append(text.slice(at));
    node.replaceWith(marked);
  }
}

// lowered returns text in lower case, and where in text each of its UTF-16 units starts
// and ends: lower-casing may change a character's length ("İ" becomes "i̇", two units).
function lowered(text) {
  const lower = text.toLowerCase();
  if (lower.length === text.length) return { lower, start: null, end: null };
  const start = [], end = [];
  let i = 0;
  for (const ch of text) {
    for (let k = ch.toLowerCase().length; k > 0; k--) start.push(i), end.push(i + ch.length);
    i += ch.length;
  }
  return { lower: [...text].map((ch) => ch.toLowerCase()).join(""), start, end };
}

// retime redraws every time under root, after the clock changed.
export function retime(root) {
  for (const time of root.querySelectorAll("time")) time.firstElementChild.textContent = timeOf(time.dateTime);
}
