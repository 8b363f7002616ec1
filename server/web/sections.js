// Sections of a log: where a collapsible section starts or ends, from a message's
// explicit section field or from the markers CI systems print. The same rules are in
// cmd/tasktail/sections.go, for tail.
import { plainText } from "/static/termtext.js";

// CSI sequences (GitLab wraps its markers in ESC[0K) are dropped before matching.
const CSI = /[\x1b\x9b]\[?[0-?]*[ -/]*[@-~]/g;

// MARKER matches the start of a message that may be a marker (a quick test for the rest).
const MARKER = /^(\s*::|section_|[\x1b\x9b]|--- |\+\+\+ |~~~ )/;

// sectionMark returns {kind: "start", title, collapsed, expanded}, {kind: "end", text}, or
// null for an entry that neither starts nor ends a section.
export function sectionMark(entry) {
  if (entry.section === "start") return { kind: "start", title: plainText(entry.message) };
  if (entry.section === "end") return { kind: "end", text: entry.message };
  if (!MARKER.test(entry.message)) return null;
  const raw = entry.message.replace(CSI, "");
  let m;
  // GitHub Actions: ::group::Title and ::endgroup::
  if ((m = /^\s*::group::(.*)$/s.exec(raw))) return { kind: "start", title: plainText(m[1]).trim() };
  if (/^\s*::endgroup::\s*$/.test(raw)) return { kind: "end" };
  // GitLab: section_start:UNIX:name[collapsed=true]\r\e[0KHeader, section_end:UNIX:name
  if ((m = /^section_start:\d+:([A-Za-z0-9_.-]+)(\[[^\]]*\])?\r?(.*)$/s.exec(raw))) {
    return { kind: "start", title: plainText(m[3]).trim() || m[1], collapsed: /collapsed=true/.test(m[2] ?? "") };
  }
  if (/^section_end:\d+:[A-Za-z0-9_.-]+/.test(raw)) return { kind: "end" };
  // Buildkite: "--- Title" (collapsed), "+++ Title" (expanded), "~~~ Title" (collapsed)
  if ((m = /^(---|\+\+\+|~~~) (.*\S.*)$/s.exec(raw))) return { kind: "start", title: plainText(m[2]).trim(), expanded: m[1] === "+++" };
  return null;
}

// duration says how long a section took, as "1m 05s" or "3.2s".
export function duration(fromIso, toIso) {
  const ms = Math.max(0, new Date(toIso) - new Date(fromIso));
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}h ${String(mm).padStart(2, "0")}m ${ss}s` : `${mm}m ${ss}s`;
}
