"""A blocking client of tasktail's HTTP API over one kept-alive HTTP/1.1 connection."""
from __future__ import annotations

import datetime
import http.client
import json
import os
import socket
import threading
import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union
from urllib.parse import quote, urlencode, urlsplit

from .errors import TasktailError, Unreachable, error_for

LEVELS = ("debug", "info", "success", "warning", "error", "critical")

#: An entry of a batch: {"level", "message", and optionally "progress", "finished",
#: "stream", "update", "section", "timestamp"}.
Entry = Mapping[str, Any]

SECTIONS = ("start", "end")


def entry(level: str, message: str, progress: Optional[float] = None, finished: bool = False, *,
          stream: Optional[str] = None, update: bool = False, section: Optional[str] = None,
          timestamp: Union[datetime.datetime, str, None] = None) -> Dict[str, Any]:
    """Build one log entry. Without progress the task's progress stays as it is.

    stream names the output the line came from ("stdout", "stderr", a step); update marks
    a new state of the stream's newest line (a progress bar); section "start" opens a
    collapsible section titled by the message and "end" closes it; timestamp is the line's
    own time (a datetime, naive meaning UTC, or an RFC 3339 string), for back-filled logs.
    """
    if level not in LEVELS:
        raise ValueError(f"level {level!r}: want one of {', '.join(LEVELS)}")
    e: Dict[str, Any] = {"level": level, "message": str(message)}
    if progress is not None:
        e["progress"] = float(progress)
    if finished:
        e["finished"] = True
    if stream:
        e["stream"] = str(stream)
    if update:
        e["update"] = True
    if section is not None:
        if section not in SECTIONS:
            raise ValueError(f"section {section!r}: want start or end")
        e["section"] = section
    if timestamp is not None:
        if isinstance(timestamp, datetime.datetime):
            if timestamp.tzinfo is None:
                timestamp = timestamp.replace(tzinfo=datetime.timezone.utc)
            timestamp = timestamp.isoformat()
        e["timestamp"] = str(timestamp)
    return e


def server_url() -> str:
    """The server: TASKTAIL_SERVER, as the command line has it, or the local default."""
    return os.environ.get("TASKTAIL_SERVER") or "http://127.0.0.1:8080"


class Client:
    """tasktail's HTTP API: publish, publish_batch, status, delete, restart, logs and list.

    The server is base_url, or TASKTAIL_SERVER; the key key, or TASKTAIL_KEY. One
    connection is kept alive and shared (calls from several threads take turns). A
    publish carries an Idempotency-Key, so the one retry after a connection that broke
    before the answer never stores twice. Errors are the exceptions of tasktail.errors.
    """

    def __init__(self, base_url: Optional[str] = None, key: Optional[str] = None, timeout: float = 10.0):
        base_url = base_url or server_url()
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"base_url {base_url!r}: want http://host:port or https://host:port")
        self._https = u.scheme == "https"
        self._host, self._port = u.hostname, u.port
        self._prefix = u.path.rstrip("/")
        self.key = key if key is not None else os.environ.get("TASKTAIL_KEY") or None
        self.timeout = timeout
        self._conn: Optional[http.client.HTTPConnection] = None
        self._lock = threading.Lock()

    # The API.

    def publish(self, task_id: str, level: str, message: str, progress: Optional[float] = None, finished: bool = False,
                **attrs: Any) -> Dict[str, Any]:
        """Publish one message; returns {"task_id", "seq", "queued"}. attrs are entry()'s
        stream, update, section and timestamp."""
        return self._request("POST", _task_path(task_id) + "/logs", entry(level, message, progress, finished, **attrs), idempotent_key=True)

    def publish_batch(self, task_id: str, entries: Iterable[Entry], key: Optional[str] = None) -> Dict[str, Any]:
        """Publish entries in one request, all or nothing; returns {"first_seq", "last_seq", ...}.

        key is the batch's Idempotency-Key (one is made when not given): a batch sent again
        with the same key is answered as the first was and stored once.
        """
        return self._request("POST", _task_path(task_id) + "/logs", list(entries), idempotent_key=key or True)

    def status(self, task_id: str) -> Dict[str, Any]:
        """The task's status; NotFound for a task nobody published to."""
        return self._request("GET", _task_path(task_id))

    def delete(self, task_id: str) -> None:
        """Close the task's viewers and drop it (deleting an unknown task is not an error)."""
        self._request("DELETE", _task_path(task_id))

    def restart(self, task_id: str) -> str:
        """Start a new incarnation of the task; returns its epoch."""
        return self._request("POST", _task_path(task_id) + "/restart")["epoch"]

    def logs(self, task_id: str) -> str:
        """The task's whole retained log as text, "timestamp level message" per line."""
        return self._request("GET", _task_path(task_id) + "/log", raw=True)

    def list(self, prefix: str = "", state: str = "", limit: int = 50, cursor: str = "") -> Dict[str, Any]:
        """A page of the task list, the most recently active first: {"tasks", "next_cursor"}."""
        q = {k: v for k, v in {"prefix": prefix, "state": state, "cursor": cursor}.items() if v}
        q["limit"] = str(limit)
        return self._request("GET", "/v1/tasks?" + urlencode(q))

    def close(self) -> None:
        """Close the kept-alive connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The transport.

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _request(self, method: str, path: str, body: Any = None, idempotent_key: Union[bool, str] = False, raw: bool = False) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        if self.key:
            headers["Authorization"] = "Bearer " + self.key
        if idempotent_key:
            headers["Idempotency-Key"] = idempotent_key if isinstance(idempotent_key, str) else uuid.uuid4().hex
        retryable = method in ("GET", "DELETE") or bool(idempotent_key)
        with self._lock:
            for attempt in (1, 2):
                fresh = self._conn is None
                try:
                    conn = self._connect()
                    conn.request(method, self._prefix + path, body=data, headers=headers)
                    resp = conn.getresponse()
                    payload = resp.read()
                    break
                except (http.client.HTTPException, OSError) as err:
                    if self._conn is not None:
                        self._conn.close()
                        self._conn = None
                    # A kept-alive connection the server closed meanwhile: try once more.
                    if attempt == 2 or fresh or not retryable or isinstance(err, socket.timeout):
                        raise Unreachable(f"{method} {path}: {err}") from err
            if resp.getheader("Connection", "").lower() == "close":
                self._conn.close()
                self._conn = None
        if resp.status >= 400:
            raise _error_of(resp, payload)
        if raw:
            return payload.decode()
        return json.loads(payload) if payload else None


def _task_path(task_id: str) -> str:
    return "/v1/tasks/" + quote(task_id, safe="")


def _error_of(resp: http.client.HTTPResponse, payload: bytes) -> TasktailError:
    code, message = "", resp.reason
    try:
        err = json.loads(payload)["error"]
        code, message = err.get("code", ""), err.get("message", message)
    except (ValueError, KeyError, TypeError):
        pass
    retry_after: Optional[float] = None
    if resp.getheader("Retry-After"):
        try:
            retry_after = float(resp.getheader("Retry-After"))
        except ValueError:
            pass
    return error_for(resp.status, code, message, retry_after)


__all__: List[str] = ["Client", "entry", "LEVELS", "Entry"]
