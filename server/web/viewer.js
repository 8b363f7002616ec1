// The viewer page: one task's live log, progress and end state. Messages are shown as
// text, never as HTML.
import { tail } from "/static/tasktail.js";

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

const timeOf = (iso) => {
  const d = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
};

function lineFor(entry) {
  const line = document.createElement("div");
  line.className = `line level-${entry.level}`;
  line.dataset.seq = entry.seq;
  line.id = `seq-${entry.seq}`;
  const time = document.createElement("time");
  time.dateTime = entry.timestamp;
  const link = document.createElement("a"); // a link to this line: #seq-N
  link.href = `#seq-${entry.seq}`;
  link.textContent = timeOf(entry.timestamp);
  link.title = `Link to message ${entry.seq}`;
  time.append(link);
  const level = document.createElement("span");
  level.className = "level";
  level.textContent = entry.level;
  const message = document.createElement("span");
  message.className = "message";
  message.textContent = entry.message;
  line.append(time, level, message);
  if (query) highlight(message);
  return line;
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

// Lines are added once per animation frame, so a burst costs one layout.
function add(line) {
  pending.push(line);
  if (pending.length === 1) requestAnimationFrame(flush);
}

function flush() {
  waiting.remove();
  log.append(...pending);
  pending = [];
  if (query) countMatches();
  const excess = log.childElementCount - MAX_LINES;
  for (let i = 0; i < excess; i++) log.firstElementChild.remove();
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

function highlight(message) {
  const text = message.textContent;
  message.replaceChildren();
  const { lower, start, end } = lowered(text);
  let at = 0;
  for (let i = lower.indexOf(query); query && i >= 0; i = lower.indexOf(query, i + query.length)) {
    const from = start ? start[i] : i, to = end ? end[i + query.length - 1] : i + query.length;
    if (from < at) continue; // inside a character the last match took
    const mark = document.createElement("mark");
    mark.textContent = text.slice(from, to);
    message.append(text.slice(at, from), mark);
    at = to;
  }
  message.append(text.slice(at));
}

// visibleMarks are the matches in lines the level filter shows.
const visibleMarks = () => [...log.querySelectorAll(".line mark")].filter((m) => m.closest(".line").offsetParent !== null);

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
  log.querySelector(".line.target")?.classList.remove("target");
  line.classList.add("target");
  following = false;
  line.scrollIntoView({ block: "center" });
}

tail(taskId, {
  since: 0,
  token,
  onHello: (hello) => {
    if (hello.last_seq === 0 && log.querySelector(".line") === null && pending.length === 0) log.append(waiting);
  },
  onError: (error) => showBanner("error", refusalText(error)),
  onLog: (entry) => add(lineFor(entry)),
  onGap: (gap) => add(gapLine(gap)),
  onProgress: setProgress,
  onStatus: (status) => {
    showStatus(status);
    if (status === "deleted") showBanner("error", "This task was deleted.");
  },
  onFinished: showEnd,
});
