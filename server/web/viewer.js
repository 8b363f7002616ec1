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
  const time = document.createElement("time");
  time.dateTime = entry.timestamp;
  time.textContent = timeOf(entry.timestamp);
  const level = document.createElement("span");
  level.className = "level";
  level.textContent = entry.level;
  const message = document.createElement("span");
  message.className = "message";
  message.textContent = entry.message;
  line.append(time, level, message);
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
  const excess = log.childElementCount - MAX_LINES;
  for (let i = 0; i < excess; i++) log.firstElementChild.remove();
  if (excess > 0) {
    trimmed += excess;
    trimmedNote.textContent = `${trimmed.toLocaleString()} older lines are not shown (this page keeps the latest ${MAX_LINES.toLocaleString()})`;
    trimmedNote.hidden = false;
  }
  if (following) toBottom();
  else jump.hidden = false;
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
