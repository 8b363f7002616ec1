// The viewer page: one task's log, progress and end state. It keeps at most MAX_ROWS rows
// in the page, a window of the log: it opens on the log's last page, reads older and newer
// pages from the server as the reader scrolls (GET …/log?from_seq=&limit=), jumps to any
// seq (a link, a search match, the scrollbar) by reading the page around it, and appends
// live messages from the WebSocket while the window reaches the end. Messages are shown as
// text, never as HTML (rows.js, termtext.js).
import { tail } from "/static/tasktail.js";
import { clock, fillLine, gapLine, retime } from "/static/rows.js";
import { setupFind } from "/static/find.js";
import { setupToolbar, showBanner, showStatus, refusalText } from "/static/toolbar.js";
import { setup, built, newContext, place, pass, shown, folded, endSection, applySections, reveal, entryOf } from "/static/build.js";

const PAGE = 500; // messages one read brings
const MAX_ROWS = 2000; // rows the page holds
const MAX_PX = 15e6; // the height the whole log may take in the scrollbar

const taskId = decodeURIComponent(location.pathname.split("/").pop());
const $ = (id) => document.getElementById(id);
const log = $("log");
const jump = $("jump");
const token = new URLSearchParams(location.search).get("token") || undefined;
const api = (path, params = {}) => {
  const q = new URLSearchParams(params);
  if (token) q.set("token", token);
  return `/v1/tasks/${encodeURIComponent(taskId)}${path}?${q}`;
};

document.title = `${taskId} · tasktail`;
$("task-id").textContent = taskId;
// The whole retained log as a text file, under the same credential as the page.
$("download").href = api("/log").replace(/\?$/, "");

// The log is a spacer for the messages above the window, the window's rows, and a spacer
// for those below it: the scrollbar spans the whole log.
const above = document.createElement("div");
const rows = document.createElement("div");
const below = document.createElement("div");
above.className = below.className = "spacer";
rows.className = "rows";
log.append(above, rows, below);

let first = 1; // the oldest seq the server keeps (a page read says)
let last = 0; // the newest seq known
let lo = 0; // the window holds the messages lo..hi
let hi = 0;
let atEnd = true; // the window reaches the newest message: live ones are appended
let busy = false; // a page is being read
let rowHeight = 20;
let endContext = newContext(); // at the window's end, where live messages go

const pxPerSeq = () => {
  const n = Math.max(1, last - first + 1);
  return n * rowHeight > MAX_PX ? MAX_PX / n : rowHeight;
};
function setSpacers() {
  above.style.height = `${lo > first ? (lo - first) * pxPerSeq() : 0}px`;
  below.style.height = `${!atEnd && last > hi ? (last - hi) * pxPerSeq() : 0}px`;
}

// Following: the page keeps the newest line in view until the reader scrolls up.
const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 32;
let following = true;
let autoTop = 0;
const toBottom = () => {
  log.scrollTop = log.scrollHeight;
  autoTop = log.scrollTop;
  jump.hidden = atEnd;
};
new ResizeObserver(() => {
  if (following) toBottom();
}).observe(log);

setup({
  rows,
  streams: $("streams"),
  onFilter: (hidden) => {
    log.dataset.hide = hidden;
    if (following) toBottom();
  },
});

// Reading pages.
async function readPage(params) {
  const resp = await fetch(api("/log", params));
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    throw Object.assign(new Error(body.error?.message || resp.statusText), { status: resp.status });
  }
  const page = await resp.json();
  first = page.first_seq;
  last = Math.max(last, page.last_seq);
  return page;
}

// fill builds rows for a page's frames in a new context.
function fill(frames) {
  const c = newContext();
  const out = [];
  for (const f of frames) place(f, c, out);
  return { c, out };
}

function topGap() {
  rows.querySelector(".gap.top")?.remove();
  if (lo === first && first > 1) {
    const gap = gapLine(`… ${(first - 1).toLocaleString()} messages not shown`);
    gap.classList.add("top");
    rows.prepend(gap);
  }
}

// show replaces the window with a page.
function show(page) {
  const { c, out } = fill(page.frames);
  rows.replaceChildren(...out);
  applySections(out);
  lo = page.frames[0]?.seq ?? first;
  hi = page.frames.at(-1)?.seq ?? 0;
  atEnd = hi >= last;
  endContext = atEnd ? c : newContext();
  topGap();
  setSpacers();
  const sample = rows.querySelector(".line:not(.gap)");
  if (sample) rowHeight = Math.max(12, sample.getBoundingClientRect().height || rowHeight);
}

// keepInView runs change, which adds or removes rows, without moving what the reader sees.
function keepInView(change) {
  const anchor = [...rows.children].find((r) => r.offsetParent !== null && r.getBoundingClientRect().bottom > log.getBoundingClientRect().top);
  const before = anchor?.getBoundingClientRect().top;
  change();
  if (anchor?.isConnected) log.scrollTop += anchor.getBoundingClientRect().top - before;
}

// loadOlder reads up to n messages before the window and prepends their rows.
async function loadOlder(n = PAGE) {
  busy = true;
  try {
    const at = lo;
    const from = Math.max(first, lo - n);
    const page = await readPage({ from_seq: from, limit: lo - from });
    if (lo !== at) return; // live messages started the window again meanwhile
    const { c, out } = fill(page.frames.filter((f) => f.seq < lo));
    // The rows after the page are in a section that started before it: so is the page.
    const sec = rows.querySelector(".line[data-seq]")?.dataset.sec;
    if (sec && +sec < from) for (const row of out) row.dataset.sec = sec;
    keepInView(() => {
      rows.querySelector(".gap.top")?.remove();
      rows.prepend(...out);
      joinBoundary(c, out.length);
      applySections(out);
      lo = from;
      topGap();
      trim("bottom");
      setSpacers();
    });
  } finally {
    busy = false;
  }
}

async function loadNewer() {
  busy = true;
  try {
    const page = await readPage({ from_seq: hi + 1, limit: PAGE });
    const out = [];
    for (const f of page.frames) if (f.seq > hi) place(f, endContext, out);
    keepInView(() => {
      rows.append(...out);
      applySections(out);
      hi = page.frames.at(-1)?.seq ?? hi;
      atEnd = hi >= last;
      trim("top");
      setSpacers();
    });
  } finally {
    busy = false;
  }
}

// joinBoundary continues a prepended page into the rows after it: its open section takes
// them in up to where that section ended, and updates of its lines fold into them.
function joinBoundary(c, from) {
  const open = new Set(c.lastOf.keys());
  for (let row = rows.children[from]; row && (open.size || c.section); ) {
    const next = row.nextElementSibling;
    const entry = entryOf.get(row);
    if (row.classList.contains("section-head")) {
      endSection(c, entry);
      open.clear();
    } else if (row.classList.contains("section-end")) {
      if (c.section) row.dataset.sec = c.section;
      endSection(c, entry);
    } else if (entry) {
      if (c.section && !row.dataset.sec) row.dataset.sec = c.section;
      const stream = entry.stream ?? "";
      if (open.has(stream) && row.dataset.update) {
        fillLine(c.lastOf.get(stream), entry);
        row.remove();
      } else open.delete(stream);
    }
    row = next;
  }
}

// trim keeps MAX_ROWS rows, dropping them at side ("top" or "bottom") in one removal.
function trim(side) {
  const excess = rows.childElementCount - MAX_ROWS;
  if (excess <= 0) return;
  const range = document.createRange();
  if (side === "top") {
    range.setStartBefore(rows.firstElementChild);
    range.setEndAfter(rows.children[excess - 1]);
  } else {
    range.setStartBefore(rows.children[MAX_ROWS]);
    range.setEndAfter(rows.lastElementChild);
  }
  range.deleteContents();
  if (side === "top") {
    lo = +(rows.firstElementChild.dataset.first || rows.firstElementChild.dataset.seq);
  } else {
    hi = +rows.lastElementChild.dataset.seq;
    atEnd = false;
    endContext = newContext();
  }
}

// jumpTo shows the page around seq, and seq in it.
async function jumpTo(seq, block = "center") {
  if (!rowOf(seq)) {
    busy = true;
    try {
      show(await readPage({ from_seq: Math.max(first, 1, seq - PAGE / 2), limit: PAGE }));
    } finally {
      busy = false;
    }
  }
  const row = rowOf(seq);
  reveal(row);
  row?.scrollIntoView({ block });
  return row;
}

async function jumpToEnd() {
  if (!atEnd) {
    busy = true;
    try {
      show(await readPage({ limit: PAGE }));
    } finally {
      busy = false;
    }
  }
  following = true;
  toBottom();
}

// rowOf is the row that shows seq (a line that updated shows several).
function rowOf(seq) {
  const row = document.getElementById(`seq-${seq}`);
  if (row && rows.contains(row)) return row;
  return [...rows.children].find((r) => +r.dataset.first <= seq && seq <= +r.dataset.seq && r.classList.contains("line"));
}

// Scrolling: near the window's top or bottom the next page is read; a scroll into a
// spacer (the scrollbar dragged far) jumps there.
let scrollQueued = false;
log.addEventListener("scroll", () => {
  if (!(following && log.scrollTop >= autoTop - 2)) {
    following = atBottom() && atEnd;
    if (following) jump.hidden = true;
  }
  if (!scrollQueued) {
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      onScrolled().catch(() => {}); // a failed read is tried again on the next scroll
    });
  }
});

// margin is how near the window's edge the next page is read: a few screens.
const margin = () => Math.max(3 * log.clientHeight, 4000);

async function onScrolled() {
  if (busy || hi === 0) return;
  const top = log.scrollTop;
  const h = log.clientHeight;
  const winTop = above.offsetHeight;
  const winBottom = winTop + rows.offsetHeight;
  if (top + h < winTop || top > winBottom) {
    const seq = top + h < winTop ? first + Math.floor(top / pxPerSeq()) : hi + 1 + Math.floor((top - winBottom) / pxPerSeq());
    await jumpTo(Math.min(Math.max(seq, first), last), "start");
  } else if (lo > first && top < winTop + margin() && !following) {
    await loadOlder();
  } else if (!atEnd && top + h > winBottom - margin()) {
    await loadNewer();
  }
}

jump.addEventListener("click", () => jumpToEnd());

// Live messages: kept as data until a flush, at most every FLUSH_EVERY ms, so that a fast
// task costs a few layouts a second, not one per message. While the page follows the
// log, a flush builds rows only for the messages that can be in view (the newest screen
// and a few more); the older ones of a burst are passed over as data (build.js, pass) and
// the window starts again at the first row built. Once no message has come for CALM ms,
// the rows passed over are read back (loadOlder), up to the window the page would have
// held had it built them all.
const FLUSH_EVERY = 100;
const CALM = 500;
const BUSY_FLUSH_EVERY = 500;
let busyLog = false;
let pending = []; // entries, and {gap: text} for a gap's line
let flushQueued = false;
let flushedAt = 0;
let owed = 0; // the rows the window would hold had no message been passed over
let fillTimer = 0;
let dropped = false; // messages waiting were passed over before a render: it starts again
function live(entry) {
  if (entry.seq <= hi) return; // read with a page already
  last = Math.max(last, entry.seq);
  if (!atEnd) {
    setSpacers();
    jump.hidden = false;
    return;
  }
  hi = entry.seq;
  pending.push(entry);
  // A page in the background renders nothing (it gets no animation frames): what waits
  // is bounded by passing over the older half, as a render would.
  if (pending.length > 2 * MAX_ROWS) {
    for (const item of pending.splice(0, MAX_ROWS)) if (item.gap === undefined) pass(item, endContext);
    dropped = true;
  }
  queueFlush();
}

function queueFlush() {
  if (flushQueued) return;
  flushQueued = true;
  const wait = Math.max(0, flushedAt + (busyLog ? BUSY_FLUSH_EVERY : FLUSH_EVERY) - performance.now());
  setTimeout(() => requestAnimationFrame(flush), wait);
}

// firstInView is the index of the first of items that can be in view once they are the
// log's newest rows: a screen of rows that show, and a few more. In a section the reader
// folded, all of them are built, as before (folded rows take no room).
function firstInView(items) {
  if (folded(endContext)) return 0;
  let rowsToShow = Math.ceil(log.clientHeight / rowHeight) + 10;
  for (let i = items.length - 1; i >= 0; i--) {
    if (shown(items[i]) && --rowsToShow === 0) return i;
  }
  return 0;
}

function flush() {
  flushQueued = false;
  flushedAt = performance.now();
  if (pending.length === 0) return;
  waiting.remove();
  const items = pending;
  pending = [];
  const from = following || dropped ? firstInView(items) : 0;
  const restart = from > 0 || dropped;
  busyLog = restart;
  const out = [];
  items.forEach((item, i) => {
    if (i < from) {
      if (item.gap === undefined) pass(item, endContext);
    } else if (item.gap !== undefined) out.push(gapLine(item.gap));
    else place(item, endContext, out);
  });
  if (owed || restart) owed = dropped ? MAX_ROWS : Math.min(MAX_ROWS, (owed || rows.childElementCount) + items.length);
  dropped = false;
  const add = () => {
    if (restart) {
      rows.replaceChildren(...out);
      lo = items.slice(from).find((item) => item.seq)?.seq ?? hi;
      topGap();
    } else rows.append(...out);
    applySections(out);
    trim("top");
    setSpacers();
  };
  if (following) add();
  else keepInView(add);
  if (following) toBottom();
  else jump.hidden = false;
  if (owed) {
    clearTimeout(fillTimer);
    fillTimer = setTimeout(fillBack, CALM);
  }
  showTarget();
}

// fillBack reads back the rows a burst passed over, once the log is calm.
async function fillBack() {
  const calm = flushedAt;
  try {
    while (following && atEnd && !busy && lo > first && rows.childElementCount < owed) {
      await loadOlder(Math.min(PAGE, owed - rows.childElementCount));
      if (flushedAt !== calm) return; // messages came meanwhile: the next calm goes on
      if (following) toBottom();
    }
  } catch {
    // a failed read: scrolling up reads the page again
  }
  owed = 0;
}

// Shown until the first message of a task nobody has published to yet.
const waiting = document.createElement("p");
waiting.className = "waiting";
waiting.textContent = "Waiting for the first message…";

// The progress bar is drawn at most once a frame, however many messages move it, and
// only when it moved: a write of the same text would still cost a layout.
let progress = null;
let drawn = null;
function setProgress(p) {
  if (progress === null && p !== drawn) {
    requestAnimationFrame(() => {
      if (progress !== drawn) {
        $("progress").value = progress;
        $("progress-text").textContent = `${Math.round(progress)}%`;
        drawn = progress;
      }
      progress = null;
    });
  }
  if (progress !== null || p !== drawn) progress = p;
}

function showEnd(last) {
  const failed = last && (last.level === "error" || last.level === "critical");
  showBanner(failed ? "error" : "success",
    `${failed ? "Failed" : "Finished"}${last ? `: ${last.message}` : ""} (${Math.round(last?.progress ?? $("progress").value)}%)`);
  if (following) requestAnimationFrame(() => following && toBottom());
}

setupFind({
  api,
  rows,
  jumpTo,
  stopFollowing: () => (following = false),
});
setupToolbar({
  log,
  rows,
  filtered: () => following && toBottom(),
});


// Links: #seq-N goes to a message, #seq-N-M marks a range; Shift+click on a time makes a
// range from the message marked to it.
let target = location.hash;
window.addEventListener("hashchange", () => {
  target = location.hash;
  showTarget();
});
rows.addEventListener("click", (e) => {
  const link = e.target.closest("time a");
  const from = /^#seq-(\d+)/.exec(location.hash);
  if (!link || !e.shiftKey || !from) return;
  e.preventDefault();
  const to = +link.closest("[data-seq]").dataset.seq;
  location.hash = `#seq-${Math.min(+from[1], to)}-${Math.max(+from[1], to)}`;
});
async function showTarget() {
  const m = /^#seq-(\d+)(?:-(\d+))?$/.exec(target);
  if (!m || hi === 0) return;
  target = "";
  const from = +m[1];
  const to = Math.max(from, +(m[2] ?? m[1]));
  following = false;
  for (const r of rows.querySelectorAll(".target")) r.classList.remove("target");
  const row = await jumpTo(from);
  for (let r = row; r && +(r.dataset.first || r.dataset.seq) <= to; r = r.nextElementSibling) {
    if (r.dataset.seq) {
      r.classList.add("target");
      reveal(r);
    }
  }
  row?.scrollIntoView({ block: "center" });
}

// Elapsed time counts from the task's first message.
$("elapsed").addEventListener("change", async (e) => {
  clock.elapsed = e.target.checked;
  if (clock.elapsed && !clock.firstIso && first > 0) {
    const page = await fetch(api("/log", { from_seq: first, limit: 1 })).then((r) => r.json()).catch(() => null);
    clock.firstIso = page?.frames?.[0]?.timestamp ?? null;
  }
  retime(rows);
});

// Opening: the last page of the stored log, then the WebSocket from its end. A task with
// nothing stored yet is watched from its start.
async function open() {
  let since = 0;
  try {
    const page = await readPage({ limit: PAGE });
    show(page);
    since = page.last_seq;
    if (built.last) setProgress(built.last.progress);
    if (page.frames.length) waiting.remove();
    following = true;
    toBottom();
    showTarget();
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      showStatus("refused");
      showBanner("error", refusalText(err));
      return;
    }
  }
  tail(taskId, {
    since,
    token,
    onHello: (hello) => {
      if (hello.last_seq === 0 && rows.childElementCount === 0 && pending.length === 0) rows.append(waiting);
    },
    onError: (error) => showBanner("error", refusalText(error)),
    onLog: live,
    onGap: (gap) => {
      if (gap.reason === "epoch") {
        if (pending.length) flush(); // the earlier run's messages, in its context
        first = lo = 1;
        hi = last = 0;
        endContext = newContext();
      }
      if (!atEnd) return;
      pending.push({ gap: gap.reason === "epoch"
        ? "… the task restarted: messages of its earlier run are not shown"
        : `… ${gap.to_seq - gap.from_seq + 1} messages not shown` });
      queueFlush();
    },
    onProgress: setProgress,
    onStatus: (status) => {
      showStatus(status);
      if (status === "deleted") showBanner("error", "This task was deleted.");
    },
    onFinished: (entry) => {
      endSection(endContext, entry ?? built.last);
      showEnd(entry ?? built.last);
    },
  });
}
open();
