// tasktail.js: follow a tasktail task from a web page, or from Node >= 20 (with its
// WebSocket global, and options.baseUrl). The npm package sdk/js is this file.
//
//   import { tail } from "/static/tasktail.js";
//   const t = tail("import-42", {
//     onLog: (entry) => console.log(entry.seq, entry.level, entry.message),
//     onStatus: (s) => console.log(s), // connecting | live | reconnecting | finished | deleted | refused | closed
//     onError: (e) => console.error(e.message), // why the server refused: {status, message}
//   });
//   t.close();
//
// A burst arrives as batches (several frames in one WebSocket message), handed to the
// callbacks one frame at a time, in order.
//
// It reconnects by itself after a dropped connection or a 1001/1011/1013 close, with
// exponential backoff, and resumes with since/epoch, so no entry is lost or shown twice.
// Entries the server could not keep arrive through onGap. A refusal that retrying cannot
// mend (no token, an expired or foreign one, a page origin the server does not allow) is
// not retried: the status turns "refused" and onError says why.

const ACTIVE = new Set(["connecting", "live", "reconnecting"]);

// The subprotocol that asks for batches: a message may then carry several frames, as a
// JSON array in order. A server that does not know it sends one frame per message.
const BATCH = "tasktail.batch";

/**
 * @param {string} taskId
 * @param {object} [options]
 * @param {number} [options.since=0]   replay entries after this seq (0: all retained)
 * @param {string} [options.baseUrl]   server origin (default: this page's)
 * @param {string} [options.token]     subscribe token, when the server requires one
 * @param {(hello: object) => void} [options.onHello]      first frame of each connection
 * @param {(entry: object) => void} [options.onLog]        {seq, timestamp, level, message, progress, finished,
 *                                                          and when set stream, update, section, received}
 * @param {(gap: object) => void} [options.onGap]          {from_seq, to_seq, reason}
 * @param {(progress: number) => void} [options.onProgress]
 * @param {(last: object|null) => void} [options.onFinished] the task's final entry
 * @param {(status: string) => void} [options.onStatus]
 * @param {(error: {status: number, message: string}) => void} [options.onError]
 *        why the server refused: an HTTP status (401, 403) or the close code 1008
 * @returns {{close: () => void}}
 */
export function tail(taskId, options = {}) {
  const o = { since: 0, minBackoff: 250, maxBackoff: 5000, ...options };
  let epoch = "";
  let lastSeq = o.since;
  let lastEntry = null;
  let attempt = 0;
  let socket = null;
  let timer = null;
  let status = "";

  const setStatus = (s) => {
    if (s !== status) {
      status = s;
      o.onStatus?.(s);
    }
  };

  const url = () => {
    const base = o.baseUrl || globalThis.location?.href;
    if (!base) throw new Error("tasktail: options.baseUrl is required outside a browser");
    const u = new URL(`/v1/tasks/${encodeURIComponent(taskId)}/ws`, base);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("since", String(lastSeq));
    if (epoch) u.searchParams.set("epoch", epoch);
    if (o.token) u.searchParams.set("token", o.token);
    return u;
  };

  // refuse stops for good: retrying would not help.
  const refuse = (status, message) => {
    setStatus("refused");
    o.onError?.({ status, message });
  };

  // A browser hides why a handshake failed (the close is a bare 1006): ask the same URL
  // over HTTP, which answers with the refusal's status and message.
  const whyRefused = async () => {
    try {
      const u = url();
      u.protocol = u.protocol === "wss:" ? "https:" : "http:";
      const resp = await fetch(u);
      if (resp.status === 401 || resp.status === 403) {
        const body = await resp.json().catch(() => ({}));
        return { status: resp.status, message: body.error?.message || resp.statusText };
      }
    } catch {
      // unreachable: retry
    }
    return null;
  };

  const onFrame = (frame) => {
    switch (frame.type) {
      case "hello":
        epoch = frame.epoch;
        attempt = 0;
        setStatus("live");
        o.onHello?.(frame);
        break;
      case "log":
        if (frame.seq <= lastSeq) return; // already shown
        lastSeq = frame.seq;
        lastEntry = frame;
        o.onLog?.(frame);
        o.onProgress?.(frame.progress);
        break;
      case "gap":
        if (frame.reason === "epoch") lastSeq = 0; // the server says numbering restarted at 1
        o.onGap?.(frame);
        break;
    }
  };

  const connect = () => {
    setStatus(attempt === 0 && !epoch ? "connecting" : "reconnecting");
    const ws = new WebSocket(url(), [BATCH]);
    socket = ws;
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (e) => {
      const data = JSON.parse(e.data);
      if (Array.isArray(data)) for (const frame of data) onFrame(frame);
      else onFrame(data);
    };
    // A handshake that fails ends with error then close in browsers, with error alone in
    // Node 20's WebSocket: whichever comes first ends the connection.
    ws.onerror = () => {
      if (!opened) ws.onclose({ code: 1006, reason: "" });
    };
    ws.onclose = async (e) => {
      if (socket !== ws || !ACTIVE.has(status)) return; // closed by close(), or ended already
      socket = null;
      if (!opened) {
        const refusal = await whyRefused();
        if (!ACTIVE.has(status)) return; // closed meanwhile
        if (refusal) return refuse(refusal.status, refusal.message);
      }
      if (e.code === 1000) {
        if (e.reason === "task deleted") {
          setStatus("deleted");
        } else {
          setStatus("finished");
          o.onFinished?.(lastEntry);
        }
        return;
      }
      if (e.code === 1008) {
        return refuse(1008, e.reason || "not allowed"); // a token expired: reconnecting would not help
      }
      attempt++;
      const backoff = Math.min(o.maxBackoff, o.minBackoff * 2 ** (attempt - 1));
      setStatus("reconnecting");
      timer = setTimeout(connect, backoff * (0.5 + Math.random() / 2));
    };
  };

  connect();
  return {
    close() {
      setStatus("closed");
      clearTimeout(timer);
      socket?.close(1000);
      socket = null;
    },
  };
}
