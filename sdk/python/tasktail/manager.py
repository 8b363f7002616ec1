"""The original ConnectionManager's API over tasktail: change the import, keep the app."""
from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Dict, Optional, Set

from .client import Client, server_url
from .errors import NotFound


class ConnectionManager:
    """The class FastAPI backends hand-roll, method for method, backed by a tasktail server:

    - ``await connect(websocket, task_id)`` accepts the app's own WebSocket and forwards the
      task's frames to it (queued messages first, as the original did), so the frontend
      keeps its URL. It needs ``tasktail[bridge]``.
    - ``disconnect(task_id)`` closes the task's sockets and drops its state (rule 2).
    - ``await send_log(task_id, level, message, progress=0, finished=False)`` publishes.
    - ``get_connection_status(task_id)`` and ``get_queued_message_count(task_id)``.

    Unlike the original, messages survive a restart of the app, reach viewers on every
    process, and any number of viewers per task. The server is ``base_url`` or
    TASKTAIL_SERVER, the key ``key`` or TASKTAIL_KEY.
    """

    def __init__(self, base_url: Optional[str] = None, key: Optional[str] = None):
        self.base_url = base_url or server_url()
        self.key = key if key is not None else os.environ.get("TASKTAIL_KEY") or None
        self.client = Client(self.base_url, key=self.key)
        self._bridges: Dict[str, Set["asyncio.Task[None]"]] = {}

    async def connect(self, websocket: Any, task_id: str) -> None:
        """Accept websocket (Starlette's) and start forwarding the task's frames to it."""
        await websocket.accept()
        bridge = asyncio.get_running_loop().create_task(self._bridge(websocket, task_id))
        self._bridges.setdefault(task_id, set()).add(bridge)
        bridge.add_done_callback(lambda t: self._bridges.get(task_id, set()).discard(t))

    async def _bridge(self, websocket: Any, task_id: str) -> None:
        from .tail import atail

        ended = []  # the server's close reason, passed on to the app's socket
        try:
            async for frame in atail(task_id, None, base_url=self.base_url, token=self.key, on_end=ended.append):
                await websocket.send_text(json.dumps(frame))
            await websocket.close(code=1000, reason=ended[0] if ended else "")  # finished or deleted
        except asyncio.CancelledError:
            raise
        except Exception:  # the app's socket went away: nothing to forward to
            pass

    def disconnect(self, task_id: str) -> None:
        """Close the task's sockets and drop its queue and state (rule 2)."""
        for bridge in self._bridges.pop(task_id, set()):
            bridge.cancel()
        self.client.delete(task_id)

    async def send_log(self, task_id: str, level: str, message: str, progress: float = 0, finished: bool = False) -> None:
        """Publish one message: delivered to the task's viewers now, or queued for them."""
        await asyncio.get_running_loop().run_in_executor(None, self.client.publish, task_id, level, message, progress, finished)

    def get_connection_status(self, task_id: str) -> bool:
        """Whether any socket watches the task: a bridge of this app, or any viewer."""
        if self._bridges.get(task_id):
            return True
        try:
            return bool(self.client.status(task_id).get("connected"))
        except NotFound:
            return False

    def get_queued_message_count(self, task_id: str) -> int:
        """How many messages wait for a viewer (0 for an unknown task)."""
        try:
            return int(self.client.status(task_id).get("queued", 0))
        except NotFound:
            return 0
