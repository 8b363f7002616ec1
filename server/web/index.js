// The task list: every task the server holds, the most recently active first, each
// linking to its viewer. Refreshes every 5 s while the page is visible.
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
$("prefix").value = params.get("prefix") || "";
$("state").value = params.get("state") || "";

const ago = (iso) => {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
};

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(task) {
  const tr = document.createElement("tr");
  tr.className = `task state-${task.state}`;
  const name = document.createElement("td");
  const link = document.createElement("a");
  link.href = `/tasks/${encodeURIComponent(task.task_id)}${token ? `?token=${encodeURIComponent(token)}` : ""}`;
  link.textContent = task.task_id;
  name.append(link);
  const progress = document.createElement("td");
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = task.progress;
  bar.setAttribute("aria-label", `${task.task_id} progress`);
  progress.append(bar, ` ${Math.round(task.progress)}%`);
  const last = cell(ago(task.last_active));
  last.title = task.last_active;
  tr.append(name, cell(task.state, `state state-${task.state}`), progress, cell(String(task.last_seq), "num"), cell(String(task.subscribers), "num"), last);
  return tr;
}

let cursor = "";
let paged = false; // the reader asked for more: refreshing the first page would drop them
let shown = ""; // the ETag of the first page shown: a refresh asks only whether it changed

async function load(append) {
  const q = new URLSearchParams({ limit: "100" });
  if ($("prefix").value) q.set("prefix", $("prefix").value);
  if ($("state").value) q.set("state", $("state").value);
  if (append && cursor) q.set("cursor", cursor);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  if (!append && shown) headers["If-None-Match"] = shown;
  try {
    const resp = await fetch(`/v1/tasks?${q}`, { headers, cache: "no-store" });
    if (resp.status === 304) {
      // The page is as shown: only the times since grow.
      for (const td of $("tasks").tBodies[0].querySelectorAll("td[title]")) td.textContent = ago(td.title);
      setStatus("live");
      return true;
    }
    if (!append) shown = resp.ok ? resp.headers.get("ETag") || "" : "";
    const body = await resp.json();
    if (!resp.ok) {
      $("banner").textContent = `${resp.status === 401 ? "Not authorised" : "Refused"}: ${body.error?.message || resp.statusText}`;
      $("banner").hidden = false;
      setStatus("refused");
      return false;
    }
    $("banner").hidden = true;
    const rows = body.tasks.map(row);
    if (append) $("tasks").tBodies[0].append(...rows);
    else $("tasks").tBodies[0].replaceChildren(...rows);
    cursor = body.next_cursor || "";
    $("more").hidden = !cursor;
    $("empty").hidden = $("tasks").tBodies[0].rows.length > 0;
    setStatus("live");
  } catch (err) {
    setStatus("reconnecting");
  }
  return true;
}

function setStatus(s) {
  $("status").textContent = s;
  $("status").className = `status status-${s}`;
}

$("filter").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = new URLSearchParams(location.search);
  for (const k of ["prefix", "state"]) {
    if ($(k).value) q.set(k, $(k).value);
    else q.delete(k);
  }
  history.replaceState(null, "", `?${q}`);
  paged = false;
  shown = "";
  load(false);
});
$("more").addEventListener("click", () => {
  paged = true;
  load(true);
});

// Refresh the first page now and then, unless the reader has paged on; and at once when
// the tab is shown again (a hidden tab asks nothing).
async function refresh() {
  if (!document.hidden && !paged) {
    if (!(await load(false))) return; // refused: reloading will not mend it
  }
  setTimeout(refresh, 5000);
}
refresh();
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !paged) load(false);
});
