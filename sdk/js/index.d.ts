// Types of tasktail.js: follow a tasktail task from a browser or Node (>= 20, with a
// global WebSocket).

/** The first frame of every connection, and again after an epoch gap. */
export interface Hello {
  type: "hello";
  task_id: string;
  /** The task's incarnation; a restart starts a new one. */
  epoch: string;
  /** The last seq the task had when the connection opened. */
  last_seq: number;
  finished: boolean;
}

export type Level = "debug" | "info" | "success" | "warning" | "error" | "critical";

/** One published message. */
export interface LogEntry {
  type: "log";
  task_id: string;
  seq: number;
  /** RFC 3339 with microseconds, UTC: the producer's time when it gave one, else the server's. */
  timestamp: string;
  /** When the server received it; present only when timestamp is the producer's. */
  received?: string;
  level: Level;
  /** The text as printed, escape sequences included (colours: render them, never as HTML). */
  message: string;
  /** The task's progress, 0 to 100, as of this message. */
  progress: number;
  finished: boolean;
  /** The output it came from: "stdout", "stderr" or a short name such as a step. */
  stream?: string;
  /** A new state of the newest message of the same stream (a line rewritten with \r). */
  update?: boolean;
  /** "start": opens a collapsible section titled by the message; "end": closes it. */
  section?: "start" | "end";
}

/** Messages that will not arrive, and why. */
export interface Gap {
  type: "gap";
  task_id: string;
  from_seq: number;
  /** Absent for reason "epoch": the end is unknown. */
  to_seq?: number;
  reason: "trimmed" | "history" | "retention" | "epoch";
}

/**
 * connecting | live | reconnecting, then one of: finished, deleted, refused (see onError),
 * or closed (by close()).
 */
export type Status = "connecting" | "live" | "reconnecting" | "finished" | "deleted" | "refused" | "closed";

/** Why the server refused: an HTTP status (401, 403) or the close code 1008. */
export interface TailError {
  status: number;
  message: string;
}

export interface TailOptions {
  /** Replay entries after this seq (0: everything the server retains). Default 0. */
  since?: number;
  /** The server's origin, e.g. "https://tasks.example.com". Default: the page's; required in Node. */
  baseUrl?: string;
  /** A subscribe token, when the server requires one. */
  token?: string;
  /** Reconnect backoff bounds in milliseconds (defaults 250 and 5000). */
  minBackoff?: number;
  maxBackoff?: number;
  onHello?: (hello: Hello) => void;
  onLog?: (entry: LogEntry) => void;
  onGap?: (gap: Gap) => void;
  onProgress?: (progress: number) => void;
  /** The task's final entry (null when the viewer joined after it). */
  onFinished?: (last: LogEntry | null) => void;
  onStatus?: (status: Status) => void;
  /** A refusal that retrying would not mend; the status is then "refused". */
  onError?: (error: TailError) => void;
}

export interface Tail {
  /** Stop following: the status turns "closed". */
  close(): void;
}

/**
 * Follows a task: hello, then its entries in seq order, each once, reconnecting after a
 * dropped connection or a 1001/1011/1013 close and resuming with since/epoch.
 */
export function tail(taskId: string, options?: TailOptions): Tail;
