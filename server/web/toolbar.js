// The viewer's toolbar and notices: the level filter and wrapping, which change only
// classes (the rows stay), copying the lines shown, the banner and the status.
const $ = (id) => document.getElementById(id);

// setupToolbar wires the level filter, wrapping and copy to log and its rows; filtered is
// called after the level filter changed what shows.
export function setupToolbar({ log, rows, filtered }) {
  $("min-level").addEventListener("change", (e) => {
    log.dataset.min = e.target.value;
    filtered();
  });
  $("wrap").addEventListener("change", (e) => log.classList.toggle("nowrap", !e.target.checked));

  // Copy puts the lines shown (the filters apply) on the clipboard as text.
  $("copy").addEventListener("click", async () => {
    const lines = [...rows.querySelectorAll(".line:not(.gap)")].filter((l) => l.offsetParent !== null);
    const text = lines.map((l) => `${l.querySelector("time").dateTime} ${l.querySelector(".level").textContent} ${l.querySelector(".message").textContent}`).join("\n");
    try {
      await navigator.clipboard.writeText(text + "\n");
      $("copied").textContent = `Copied ${lines.length.toLocaleString()} ${lines.length === 1 ? "line" : "lines"}`;
    } catch (err) {
      $("copied").textContent = `Copy failed: ${err.message}`;
    }
  });
}

export function showBanner(kind, text) {
  const banner = $("banner");
  banner.className = `banner banner-${kind}`;
  banner.textContent = text;
  banner.hidden = false;
}

export function showStatus(status) {
  const el = $("status");
  el.textContent = status;
  el.className = `status status-${status}`;
}

// refusalText is the words for a refusal that retrying would not mend.
export function refusalText(error) {
  switch (error.status) {
    case 401:
      return `Not authorised: ${error.message}. Open this page with a valid ?token=.`;
    case 403:
      return `Refused: ${error.message}.`;
    default:
      return `Disconnected: ${error.message}. Reload the page with a fresh ?token=.`;
  }
}
