// Terminal text for the viewer: a log message's SGR colours and styles become styled spans,
// http and https URLs become links, and every other escape sequence and control character
// is dropped. Everything is built with DOM calls and textContent: no text of a message is
// ever parsed as HTML. The tokenizer follows internal/termtext (Go), which tail and logs use.

const ESC = 0x1b;

// The 256-colour palette past the 16 named colours: a 6×6×6 cube, then 24 greys.
function colour256(n) {
  if (n < 16) return { index: n };
  if (n < 232) {
    const v = (c) => (c === 0 ? 0 : 55 + c * 40);
    n -= 16;
    return { rgb: [v(Math.floor(n / 36)), v(Math.floor(n / 6) % 6), v(n % 6)] };
  }
  const g = 8 + (n - 232) * 10;
  return { rgb: [g, g, g] };
}

const plain = () => ({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, strike: false, inverse: false });

// applySGR changes style by the parameters of one SGR sequence ("1;31", "38;2;1;2;3", "38:5:9").
function applySGR(style, params) {
  const parts = params === "" ? ["0"] : params.split(";");
  for (let i = 0; i < parts.length; i++) {
    const sub = parts[i].split(":").map((p) => (p === "" ? 0 : Number(p)));
    const code = sub[0];
    // An extended colour: 38/48 with ;5;n or ;2;r;g;b, or the same as colon subparameters.
    const extended = (target) => {
      let args = sub.slice(1);
      if (args.length === 0) {
        const kind = Number(parts[i + 1]);
        const count = kind === 5 ? 2 : kind === 2 ? 4 : 1;
        args = parts.slice(i + 1, i + 1 + count).map(Number);
        i += count;
      } else if (args[0] === 2 && args.length === 5) {
        args = [2, ...args.slice(2)]; // 38:2:colourspace:r:g:b
      }
      if (args[0] === 5 && args[1] >= 0 && args[1] <= 255) style[target] = colour256(args[1]);
      if (args[0] === 2 && args.length >= 4 && args.slice(1, 4).every((c) => c >= 0 && c <= 255)) style[target] = { rgb: args.slice(1, 4) };
    };
    if (code === 0) Object.assign(style, plain());
    else if (code === 1) style.bold = true;
    else if (code === 2) style.dim = true;
    else if (code === 3) style.italic = true;
    else if (code === 4) style.underline = true;
    else if (code === 7) style.inverse = true;
    else if (code === 9) style.strike = true;
    else if (code === 21 || code === 22) style.bold = style.dim = false;
    else if (code === 23) style.italic = false;
    else if (code === 24) style.underline = false;
    else if (code === 27) style.inverse = false;
    else if (code === 29) style.strike = false;
    else if (code >= 30 && code <= 37) style.fg = { index: code - 30 };
    else if (code === 38) extended("fg");
    else if (code === 39) style.fg = null;
    else if (code >= 40 && code <= 47) style.bg = { index: code - 40 };
    else if (code === 48) extended("bg");
    else if (code === 49) style.bg = null;
    else if (code >= 90 && code <= 97) style.fg = { index: code - 90 + 8 };
    else if (code >= 100 && code <= 107) style.bg = { index: code - 100 + 8 };
  }
}

// measure returns the length of the escape sequence at text[i] (ESC or a C1 control) and
// its SGR parameters when it is an SGR sequence.
function measure(text, i) {
  const c = text.charCodeAt(i);
  let kind, at;
  if (c === ESC) {
    if (i + 1 >= text.length) return { n: 1 };
    kind = text[i + 1];
    at = i + 2;
  } else {
    kind = { 0x9b: "[", 0x9d: "]", 0x90: "P", 0x98: "P", 0x9e: "P", 0x9f: "P" }[c];
    at = i + 1;
    if (!kind) return { n: 1 };
  }
  if (kind === "[") {
    let j = at;
    while (j < text.length && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x3f) j++;
    const params = text.slice(at, j);
    const inter = j;
    while (j < text.length && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
    const f = text.charCodeAt(j);
    if (j >= text.length || f < 0x40 || f > 0x7e) return { n: j - i };
    const sgr = text[j] === "m" && inter === j && params.length <= 64 && /^[0-9;:]*$/.test(params);
    return { n: j + 1 - i, sgr: sgr ? params : null };
  }
  if ("]PX^_".includes(kind)) { // a control string, up to BEL, ESC \ or ST
    for (let j = at; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (d === 0x07 || d === 0x9c) return { n: j + 1 - i };
      if (d === ESC) return { n: (text[j + 1] === "\\" ? j + 2 : j) - i };
    }
    return { n: text.length - i };
  }
  if (c !== ESC) return { n: at - i };
  let j = at - 1; // ESC, intermediates, one final byte
  while (j < text.length && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
  if (j < text.length && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x7e) j++;
  return { n: j - i };
}

// lastState keeps, of each line rewritten with \r, its last state that is not empty.
function lastState(text) {
  if (!text.includes("\r")) return text;
  return text.split("\n").map((line) => {
    const states = line.split("\r").filter((s) => s !== "");
    return states.length ? states[states.length - 1] : "";
  }).join("\n");
}

// PLAIN matches a text with no control character: one unstyled run, as it is.
const PLAIN = /^[^\x00-\x08\x0a-\x1f\x7f-\x9f]*$/;

// runs splits text into [text, style] runs with every control removed.
export function runs(text) {
  if (PLAIN.test(text)) return text ? [[text, plain()]] : [];
  text = lastState(text);
  const out = [];
  const style = plain();
  let buf = "";
  const push = () => {
    if (buf) out.push([buf, { ...style }]);
    buf = "";
  };
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c === ESC || (c >= 0x80 && c <= 0x9f)) {
      const { n, sgr } = measure(text, i);
      if (sgr != null) {
        push();
        applySGR(style, sgr);
      }
      i += n;
    } else if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0x7f) {
      i++;
    } else {
      buf += text[i++];
    }
  }
  push();
  return out;
}

// plainText is a message's text as the page shows it, without styles.
export const plainText = (text) => runs(text).map((r) => r[0]).join("");

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/g;

// appendLinked appends text to parent, with its http and https URLs as links.
function appendLinked(parent, text) {
  if (!text.includes("http")) return parent.append(text);
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0].replace(/[.,;:!?)\]}'"]+$/, "");
    let href;
    try {
      href = new URL(url);
    } catch {
      continue;
    }
    if (href.protocol !== "http:" && href.protocol !== "https:") continue;
    parent.append(text.slice(at, m.index));
    const a = document.createElement("a");
    a.href = href.href;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.textContent = url;
    parent.append(a);
    at = m.index + url.length;
  }
  parent.append(text.slice(at));
}

function styled(el, s) {
  const fg = s.inverse ? s.bg : s.fg;
  const bg = s.inverse ? (s.fg ?? { index: -1 }) : s.bg;
  const cls = [];
  if (s.bold) cls.push("sgr-bold");
  if (s.dim) cls.push("sgr-dim");
  if (s.italic) cls.push("sgr-italic");
  if (s.underline) cls.push("sgr-underline");
  if (s.strike) cls.push("sgr-strike");
  if (s.inverse && !s.fg) cls.push("sgr-inverse");
  if (fg?.index >= 0) cls.push(`sgr-fg-${fg.index}`);
  if (bg?.index >= 0) cls.push(`sgr-bg-${bg.index}`);
  if (cls.length) el.className = cls.join(" ");
  // Set through the CSSOM (which the page's policy allows), never as markup.
  if (fg?.rgb) el.style.color = `rgb(${fg.rgb.join(",")})`;
  if (bg?.rgb) el.style.backgroundColor = `rgb(${bg.rgb.join(",")})`;
}

const isPlain = (s) => !s.fg && !s.bg && !s.bold && !s.dim && !s.italic && !s.underline && !s.strike && !s.inverse;

// render replaces el's children with text as a terminal would show it.
export function render(el, text) {
  el.replaceChildren();
  for (const [t, s] of runs(text)) {
    if (isPlain(s)) {
      appendLinked(el, t);
      continue;
    }
    const span = document.createElement("span");
    styled(span, s);
    appendLinked(span, t);
    el.append(span);
  }
}
