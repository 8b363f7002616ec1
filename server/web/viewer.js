// The viewer page: one task's live log, progress and end state. Messages are shown as
// text, never as HTML.
import { tail } from "/static/tasktail.js";
import { render } from "/static/termtext.js";
import { sectionMark, duration } from "/static/sections.js";

const MAX_LINES = 5000;
const taskId = decodeURIComponent(location.pathname.split("/").pop());
const $ = (id) => document.getElementById(id);
const log = $("log");
const jump = $("jump");
const trimmedNote = $("trimmed");
let trimmed = 0;
let pending = [];

const token = new URLSearchParams(location.search).get("token") || undefined;

document.title = `${taskId} · tasktail`;
$("task-id").textContent = taskId;
// The whole retained log as a text file, under the same credential as the page.
$("download").href = `/v1/tasks/${encodeURIComponent(taskId)}/log${token ? `?token=${encodeURIComponent(token)}` : ""}`;

const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 32;

// following: the page keeps the newest line in view, through page load, the finish banner
// and resizes, until the reader scrolls up; scrolling back down or "Jump to latest"
// follows again.
let following = true;
let autoTop = 0; // where the page last scrolled to itself
const toBottom = () => {
  log.scrollTop = log.scrollHeight;
  autoTop = log.scrollTop;
  jump.hidden = true;
};
new ResizeObserver(() => {
  if (following) toBottom();
}).observe(log);

// Times show the clock, or with "Elapsed" the time since the first message shown.
let elapsed = false;
let firstIso = null;
const pad = (n, w = 2) => String(n).padStart(w, "0");
const timeOf = (iso) => {
  const d = new Date(iso);
  if (!elapsed) return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const ms = Math.max(0, d - new Date(firstIso ?? iso));
  return `+${pad(Math.floor(ms / 3600000))}:${pad(Math.floor(ms / 60000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)}`;
};

// timeLink is a message's time, linking to it (#seq-N).
function timeLink(entry) {
  const time = document.createElement("time");
  const link = document.createElement("a");
  time.append(link);
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

function lineFor(entry) {
  const line = document.createElement("div");
  const level = document.createElement("span");
  level.className = "level";
  const message = document.createElement("span");
  message.className = "message";
  line.append(timeLink(entry), level, message);
  fillLine(line, entry);
  if (entry.stream) {
    line.dataset.stream = entry.stream;
    line.classList.add(`stream-${streamIndex(entry.stream)}`);
  }
  return line;
}

// fillLine shows entry in line: a new line, or a new state of one (update).
function fillLine(line, entry) {
  line.className = line.className.replace(/\blevel-\S+/, "").trim();
  line.classList.add("line", `level-${entry.level}`);
  line.dataset.seq = entry.seq;
  line.id = `seq-${entry.seq}`;
  setTime(line.querySelector("time"), entry);
  line.querySelector(".level").textContent = entry.level;
  const message = line.querySelector(".message");
  raw.set(message, entry.message);
  render(message, entry.message);
  if (query) highlight(message);
}

function gapLine(gap) {
  const line = document.createElement("div");
  line.className = "line gap";
  line.textContent =
    gap.reason === "epoch"
      ? "… the task restarted: messages of its earlier run are not shown"
      : `… ${gap.to_seq - gap.from_seq + 1} messages not shown`;
  return line;
}

// Lines are added once per animation frame, so a burst costs one layout; inside an open
// section they go to its body.
function add(line) {
  pending.push([line, open?.body ?? log]);
  if (pending.length === 1) requestAnimationFrame(flush);
}

const lines = log.getElementsByClassName("line"); // live: counting costs nothing

function flush() {
  waiting.remove();
  for (const [node, parent] of pending) parent.append(node);
  pending = [];
  if (query) countMatches();
  const excess = lines.length - MAX_LINES;
  for (let i = 0; i < excess; i++) {
    const first = lines[0];
    const section = first.closest("details");
    first.remove();
    if (section && section !== open?.el && !section.querySelector(".line")) section.remove();
  }
  if (excess > 0) {
    trimmed += excess;
    trimmedNote.textContent = `${trimmed.toLocaleString()} older lines are not shown (this page keeps the latest ${MAX_LINES.toLocaleString()})`;
    trimmedNote.hidden = false;
  }
  if (following) toBottom();
  else jump.hidden = false;
  showTarget();
}

// Only the reader's scrolling changes following. The page's own scroll events arrive a
// frame later, when more lines may have come: they are not the reader scrolling up.
log.addEventListener("scroll", () => {
  if (following && log.scrollTop >= autoTop - 2) return;
  following = atBottom();
  if (following) jump.hidden = true;
});
jump.addEventListener("click", () => {
  following = true;
  toBottom();
});

// Shown until the first message of a task nobody has published to yet.
const waiting = document.createElement("p");
waiting.className = "waiting";
waiting.textContent = "Waiting for the first message…";

function showBanner(kind, text) {
  const banner = $("banner");
  banner.className = `banner banner-${kind}`;
  banner.textContent = text;
  banner.hidden = false;
}

function setProgress(p) {
  $("progress").value = p;
  $("progress-text").textContent = `${Math.round(p)}%`;
}

function showStatus(status) {
  const el = $("status");
  el.textContent = status;
  el.className = `status status-${status}`;
}

function showEnd(last) {
  const failed = last && (last.level === "error" || last.level === "critical");
  showBanner(failed ? "error" : "success",
    `${failed ? "Failed" : "Finished"}${last ? `: ${last.message}` : ""} (${Math.round(last?.progress ?? $("progress").value)}%)`);
}

// The words for a refusal that retrying would not mend.
function refusalText(error) {
  switch (error.status) {
    case 401:
      return `Not authorised: ${error.message}. Open this page with a valid ?token=.`;
    case 403:
      return `Refused: ${error.message}.`;
    default:
      return `Disconnected: ${error.message}. Reload the page with a fresh ?token=.`;
  }
}

// Search: matches are marked in the messages (as text, never HTML); Enter and Shift+Enter
// go to the next and the previous one, "/" focuses the box.
const search = $("search");
let query = "";
let current = -1;

// raw holds each message element's text as published, which its styles are drawn from.
const raw = new WeakMap();

// highlight draws message again and marks the matches in its text, within its styles.
function highlight(message) {
  render(message, raw.get(message) ?? message.textContent);
  if (!query) return;
  const walker = document.createTreeWalker(message, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.data;
    const lower = text.toLowerCase();
    let i = lower.indexOf(query);
    if (i < 0) continue;
    const marked = document.createDocumentFragment();
    let at = 0;
    for (; i >= 0; i = lower.indexOf(query, at)) {
      const mark = document.createElement("mark");
      mark.textContent = text.slice(i, i + query.length);
      marked.append(text.slice(at, i), mark);
      at = i + query.length;
    }
    marked.append(text.slice(at));
    node.replaceWith(marked);
  }
}

// visibleMarks are the matches in lines the level and stream filters show (a collapsed
// section's too: going to one opens it).
const visibleMarks = () => [...log.querySelectorAll(".line mark")].filter((m) => getComputedStyle(m.closest(".line")).display !== "none");

// reveal opens the sections around el.
function reveal(el) {
  for (let d = el.closest("details"); d; d = d.parentElement?.closest("details")) d.open = true;
}

function countMatches() {
  const n = visibleMarks().length;
  $("matches").textContent = query ? `${n.toLocaleString()} ${n === 1 ? "match" : "matches"}` : "";
}

function applySearch() {
  query = search.value.toLowerCase();
  current = -1;
  for (const m of log.querySelectorAll(".line .message")) highlight(m);
  countMatches();
}

let searchTimer = null;
search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(applySearch, 100); // once typing pauses
});

function goToMatch(step) {
  const marks = visibleMarks();
  if (marks.length === 0) return;
  marks[current]?.classList.remove("current");
  current = (current + step + marks.length) % marks.length;
  marks[current].classList.add("current");
  reveal(marks[current]);
  following = false;
  marks[current].scrollIntoView({ block: "center" });
  $("matches").textContent = `${current + 1} of ${marks.length.toLocaleString()}`;
}

search.addEventListener("keydown", (e) => {
  if (e.key === "Enter") {
    e.preventDefault();
    clearTimeout(searchTimer);
    if (search.value.toLowerCase() !== query) applySearch();
    goToMatch(e.shiftKey ? -1 : 1);
  }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName)) {
    e.preventDefault();
    search.focus();
  }
});

// The level filter and wrapping change only classes: the lines stay.
$("min-level").addEventListener("change", (e) => {
  log.dataset.min = e.target.value;
  if (query) countMatches();
  if (following) toBottom();
});
$("wrap").addEventListener("change", (e) => log.classList.toggle("nowrap", !e.target.checked));

// Copy puts the lines shown (the level filter applies) on the clipboard as text.
$("copy").addEventListener("click", async () => {
  const lines = [...log.querySelectorAll(".line:not(.gap)")].filter((l) => l.offsetParent !== null);
  const text = lines.map((l) => `${l.querySelector("time").dateTime} ${l.querySelector(".level").textContent} ${l.querySelector(".message").textContent}`).join("\n");
  try {
    await navigator.clipboard.writeText(text + "\n");
    $("copied").textContent = `Copied ${lines.length.toLocaleString()} ${lines.length === 1 ? "line" : "lines"}`;
  } catch (err) {
    $("copied").textContent = `Copy failed: ${err.message}`;
  }
});

// A link to a line (#seq-N) scrolls there once the line has arrived, and stops following.
let target = location.hash;
window.addEventListener("hashchange", () => {
  target = location.hash;
  showTarget();
});
function showTarget() {
  if (!target.startsWith("#seq-")) return;
  const line = document.getElementById(target.slice(1));
  if (!line) return;
  target = "";
  log.querySelector(".target")?.classList.remove("target");
  line.classList.add("target");
  reveal(line);
  following = false;
  line.scrollIntoView({ block: "center" });
}

// show places one entry: a section's start or end, a new state of a line (update), or a line.
const lastOfStream = new Map(); // stream → its newest line, which an update replaces
function show(entry) {
  firstIso ??= entry.timestamp;
  const mark = sectionMark(entry);
  if (mark?.kind === "start") return startSection(entry, mark);
  if (mark?.kind === "end") {
    if (mark.text) add(lineFor(entry));
    return endSection(entry);
  }
  const stream = entry.stream ?? "";
  const prev = lastOfStream.get(stream);
  if (entry.update && prev) fillLine(prev, entry);
  else {
    const line = lineFor(entry);
    lastOfStream.set(stream, line);
    add(line);
  }
  if (open && (entry.level === "error" || entry.level === "critical")) {
    open.failed = true;
    open.el.classList.add("has-error");
  }
}

// Sections: a <details> whose <summary> (reached with Tab, toggled with Enter or Space)
// is the title, its time and duration. Open while it runs; once it ends it is collapsed,
// unless it holds an error (or Buildkite's +++ asked for it open), or the reader toggled it.
let open = null; // the section lines go into: {el, body, head, from, failed, expanded, toggled}
function startSection(entry, mark) {
  endSection(entry);
  const el = document.createElement("details");
  el.className = "section";
  el.open = true;
  const head = document.createElement("summary");
  head.className = "section-head";
  head.id = `seq-${entry.seq}`;
  head.dataset.seq = entry.seq;
  const title = document.createElement("span");
  title.className = "section-title";
  title.textContent = mark.title;
  const took = document.createElement("span");
  took.className = "section-duration";
  head.append(timeLink(entry), title, took);
  const body = document.createElement("div");
  body.className = "section-body";
  el.append(head, body);
  add(el);
  const section = { el, body, took, from: entry.timestamp, failed: false, expanded: mark.expanded, collapsed: mark.collapsed, toggled: false };
  head.addEventListener("click", () => (section.toggled = true));
  open = section;
  if (mark.collapsed && !mark.expanded) el.open = false;
}

function endSection(entry) {
  if (!open) return;
  const section = open;
  open = null;
  if (entry) section.took.textContent = duration(section.from, entry.timestamp);
  if (!section.toggled) section.el.open = section.failed || (section.expanded && !section.collapsed);
  if (following) requestAnimationFrame(() => following && toBottom());
}

// Streams: one checkbox per stream, shown once a second stream appears; unticked streams
// are hidden by a token on the log (.log[data-hide~="sN"] .stream-N), the lines stay.
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
    log.dataset.hide = [...$("streams").querySelectorAll("input:not(:checked)")].map((b) => b.dataset.token).join(" ");
    if (query) countMatches();
    if (following) toBottom();
  });
  label.append(box, ` ${name}`);
  $("streams").append(label);
  $("streams").hidden = streamNames.length < 2;
  return i;
}

$("elapsed").addEventListener("change", (e) => {
  elapsed = e.target.checked;
  for (const time of log.querySelectorAll("time")) time.firstElementChild.textContent = timeOf(time.dateTime);
});

tail(taskId, {
  since: 0,
  token,
  onHello: (hello) => {
    if (hello.last_seq === 0 && log.querySelector(".line") === null && pending.length === 0) log.append(waiting);
  },
  onError: (error) => showBanner("error", refusalText(error)),
  onLog: show,
  onGap: (gap) => add(gapLine(gap)),
  onProgress: setProgress,
  onStatus: (status) => {
    showStatus(status);
    if (status === "deleted") showBanner("error", "This task was deleted.");
  },
  onFinished: (last) => {
    endSection(last);
    showEnd(last);
  },
});
