// Finding in the viewer: search over the whole stored log (the server answers the seqs,
// GET …/search), and "Next error". The page reads the page around a match to show it.
import { search, highlight } from "/static/rows.js";

// Search covers the whole stored log: the server answers the matching seqs, Enter and
// Shift+Enter go to the next and the previous (reading its page when needed), "/"
// focuses the box; the rows shown mark the matches.
const $ = (id) => document.getElementById(id);
let api, rows, jumpTo, stopFollowing;
const searchBox = $("search");
let matches = [];
let current = -1;

async function applySearch() {
  search.query = searchBox.value.toLowerCase();
  for (const m of rows.querySelectorAll(".message")) highlight(m);
  matches = [];
  current = -1;
  if (!search.query) {
    $("matches").textContent = "";
    return;
  }
  // A search still running for an earlier query is cancelled: the server stops it and
  // frees its slot. One the server is too busy for is asked again after its Retry-After.
  asking?.abort();
  const asked = (asking = new AbortController());
  let found = null;
  try {
    for (let attempt = 0; attempt < 3 && !found; attempt++) {
      const resp = await fetch(api("/search", { q: searchBox.value, limit: 1000 }), { signal: asked.signal });
      if (resp.ok) found = await resp.json();
      else if (resp.status === 503) await new Promise((r) => setTimeout(r, 1000 * (+resp.headers.get("Retry-After") || 1)));
      else break;
    }
  } catch {
    return; // cancelled by a newer query
  }
  if (asked !== asking) return;
  if (!found) {
    $("matches").textContent = "search failed";
    return;
  }
  matches = found.seqs;
  const n = matches.length;
  $("matches").textContent = `${n.toLocaleString()}${found.next_from_seq ? "+" : ""} ${n === 1 ? "match" : "matches"}`;
}
let asking = null;

let searchTimer = null;
let searching = Promise.resolve();
searchBox.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => (searching = applySearch()), 150); // once typing pauses
});

async function goToMatch(step) {
  if (matches.length === 0) return;
  current = (current + step + matches.length) % matches.length;
  stopFollowing();
  const row = await jumpTo(matches[current]);
  rows.querySelector("mark.current")?.classList.remove("current");
  const mark = row?.querySelector("mark");
  mark?.classList.add("current");
  mark?.scrollIntoView({ block: "center" });
  $("matches").textContent = `${current + 1} of ${matches.length.toLocaleString()}`;
}

searchBox.addEventListener("keydown", async (e) => {
  if (e.key !== "Enter") return;
  e.preventDefault();
  clearTimeout(searchTimer);
  if (searchBox.value.toLowerCase() !== search.query) searching = applySearch();
  await searching;
  await goToMatch(e.shiftKey ? -1 : 1);
});
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName)) {
    e.preventDefault();
    searchBox.focus();
  }
});

// "Next error" goes to the next error or critical message after the one shown, anywhere
// in the stored log, then from the start again.
let errorAt = 0;
$("next-error").addEventListener("click", async () => {
  for (const from of [errorAt + 1, 1]) {
    const resp = await fetch(api("/search", { min_level: "error", from_seq: Math.max(from, 1), limit: 1 }));
    const found = resp.ok ? await resp.json() : { seqs: [] };
    if (found.seqs.length) {
      errorAt = found.seqs[0];
      stopFollowing();
      location.hash = `#seq-${errorAt}`;
      return;
    }
  }
});

// setupFind wires the search box and "Next error" to the page: api makes a URL of the
// task's, rows holds the rows shown, jumpTo(seq) shows seq and returns its row.
export function setupFind(o) {
  ({ api, rows, jumpTo, stopFollowing } = o);
}
