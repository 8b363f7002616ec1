"""Following a task over tasktail's WebSocket, resuming by itself (needs tasktail[bridge])."""
from __future__ import annotations

import asyncio
import json
import random
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Optional, Union
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from .client import server_url
from .errors import Forbidden, TasktailError, Unauthorized


def _ws_url(base_url: str, task_id: str, since: Optional[int], epoch: str) -> str:
    u = urlsplit(base_url)
    q: Dict[str, str] = {}
    if since is not None:
        q["since"] = str(since)
        if epoch:
            q["epoch"] = epoch
    scheme = "wss" if u.scheme == "https" else "ws"
    return urlunsplit((scheme, u.netloc, u.path.rstrip("/") + "/v1/tasks/" + quote(task_id, safe="") + "/ws", urlencode(q), ""))


# The subprotocol that asks for batches: a message may then carry several frames, as a JSON
# array in order. A server that does not know it sends one frame per message.
_BATCH = "tasktail.batch"


def _frames(raw: Union[str, bytes]) -> List[Dict[str, Any]]:
    data = json.loads(raw)
    return data if isinstance(data, list) else [data]


def _refusal(status: int, message: str) -> TasktailError:
    cls = Unauthorized if status == 401 else Forbidden
    return cls(f"{status}: {message}", status=status)


async def atail(task_id: str, since: Optional[int] = 0, *, base_url: Optional[str] = None,
                token: Optional[str] = None, max_backoff: float = 5.0,
                on_end: Optional[Callable[[str], None]] = None) -> AsyncIterator[Dict[str, Any]]:
    """Yields the task's frames (hello, log, gap) as dicts until it finishes or is deleted.

    since=0 replays everything the server retains, since=N what came after seq N, and
    since=None only what is queued (the original connect). After a dropped connection, a
    1001, 1011 or 1013 it reconnects with backoff and resumes where it stopped: no log frame
    is yielded twice. A refusal retrying cannot mend (401, 403, 1008) raises Unauthorized or
    Forbidden. on_end, if given, is called with the server's close reason ("task finished",
    "task deleted") before the iteration ends.
    """
    import websockets  # the bridge extra

    base_url = base_url or server_url()
    epoch, last, attempt = "", since, 0
    headers = {"Authorization": "Bearer " + token} if token else None
    while True:
        try:
            async with websockets.connect(_ws_url(base_url, task_id, last, epoch), extra_headers=headers, max_size=8 << 20,
                                          subprotocols=[_BATCH]) as ws:
                async for raw in ws:
                    for frame in _frames(raw):
                        kind = frame.get("type")
                        if kind == "hello":
                            epoch, attempt = frame["epoch"], 0
                            last = last or 0
                        elif kind == "log":
                            if last is not None and frame["seq"] <= last:
                                continue  # already yielded
                            last = frame["seq"]
                        elif kind == "gap" and frame.get("reason") == "epoch":
                            last = 0  # numbering starts again at 1
                        yield frame
            code, reason = ws.close_code, ws.close_reason
        except websockets.exceptions.ConnectionClosed as closed:
            code, reason = closed.code, closed.reason
        except websockets.exceptions.InvalidStatusCode as refused:
            if refused.status_code in (401, 403):
                raise _refusal(refused.status_code, "the server refused the viewer") from refused
            code, reason = 1006, str(refused)
        except OSError as err:
            code, reason = 1006, str(err)
        if code == 1000:
            if on_end is not None:
                on_end(reason)
            return  # finished or deleted
        if code == 1008:
            raise Unauthorized(f"closed: {reason}", status=401)
        attempt += 1
        await asyncio.sleep(min(max_backoff, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2))


def tail(task_id: str, since: Optional[int] = 0, *, base_url: Optional[str] = None,
         token: Optional[str] = None) -> Iterator[Dict[str, Any]]:
    """atail for scripts and tests: a plain iterator, on an event loop of its own."""
    loop = asyncio.new_event_loop()
    frames = atail(task_id, since, base_url=base_url, token=token)
    try:
        while True:
            try:
                yield loop.run_until_complete(frames.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(frames.aclose())
        loop.close()
