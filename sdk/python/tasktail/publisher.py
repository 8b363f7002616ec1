"""Background publishers: a job logs without waiting for the server, in batches, in order.

Publisher runs a thread; AsyncPublisher a task of the running event loop. Both keep a
bounded buffer: when the server is slow or down the job never waits longer than
block_timeout for room, and what had to be dropped is counted and shown to viewers as a
``warning`` message where the lines are missing, once the server takes messages again.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import random
import threading
import time
import uuid
import weakref
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple, Union

from .client import Client, entry
from .errors import RateLimited, TaskFinished, TasktailError, Unavailable

log = logging.getLogger("tasktail")

Batch = Tuple[str, List[Dict[str, Any]]]  # a task and its entries, in order


class _Buffer:
    """The bounded buffer both publishers share; its owner locks around it."""

    def __init__(self, capacity: int, max_batch: int, max_bytes: int):
        self.items: Deque[Tuple[str, Dict[str, Any], int]] = deque()
        self.capacity, self.max_batch, self.max_bytes = capacity, max_batch, max_bytes
        self.dropped: Dict[str, int] = {}  # per task, not yet shown
        self.total_dropped = 0

    def full(self) -> bool:
        return len(self.items) >= self.capacity

    def drop(self, task_id: str) -> None:
        self.dropped[task_id] = self.dropped.get(task_id, 0) + 1
        self.total_dropped += 1

    def add(self, task_id: str, e: Dict[str, Any]) -> None:
        self._note(task_id)
        self.items.append((task_id, e, len(e["message"]) + 64))

    def _note(self, task_id: str) -> None:
        """Queues the note of what was dropped for task_id, if anything: after what the task
        had queued before, and before what it queues next, where the lines are missing."""
        n = self.dropped.pop(task_id, 0)
        if n:
            note = entry("warning", f"tasktail: {n} message{'s' if n > 1 else ''} dropped here: the server was slow or unreachable")
            self.items.append((task_id, note, len(note["message"]) + 64))

    def take(self) -> List[Batch]:
        """Up to max_batch entries (and max_bytes), grouped by task, each task's in order.
        The notes of drops not yet queued are queued first, now that there is room."""
        for task_id in list(self.dropped):
            self._note(task_id)
        batches: Dict[str, List[Dict[str, Any]]] = {}
        n = size = 0
        while self.items and n < self.max_batch:
            task_id, e, s = self.items[0]
            if n and size + s > self.max_bytes:
                break
            self.items.popleft()
            batches.setdefault(task_id, []).append(e)
            n, size = n + 1, size + s
            if e.get("finished"):  # only a batch's last entry may finish its task
                break
        return list(batches.items())


class _Sender:
    """Sends a batch until it is stored or refused for good, with backoff on what may pass."""

    def __init__(self, client: Client, max_retry: float):
        self.client, self.max_retry = client, max_retry
        self.failing = False  # the last attempt failed: log() does not wait for room then
        self.stop = False  # the publisher closed and gave up waiting: retries end
        self.refused: Dict[str, str] = {}

    def attempt(self, task_id: str, entries: List[Dict[str, Any]], key: str) -> Optional[float]:
        """One attempt: None when done (stored, or refused for good), else seconds to wait."""
        try:
            self.client.publish_batch(task_id, entries, key=key)
            self.failing = False
            return None
        except TaskFinished:
            self._refuse(task_id, "the task has finished: restart it to publish again")
        except TasktailError as err:
            if err.transient:
                self.failing = True
                if isinstance(err, (RateLimited, Unavailable)) and err.retry_after:
                    return err.retry_after
                return -1.0  # back off
            if err.status in (400, 413) and len(entries) > 1:
                # One entry the server refuses must not take the batch with it.
                for e in entries:
                    self.settle(task_id, [e])
                return None
            self._refuse(task_id, str(err))
        return None

    def settle(self, task_id: str, entries: List[Dict[str, Any]], deadline: Optional[float] = None) -> None:
        """Sends entries until stored or refused, or until deadline (then they are dropped)."""
        key, backoff = uuid.uuid4().hex, 0.05
        while True:
            wait = self.attempt(task_id, entries, key)
            if wait is None:
                return
            if wait < 0:
                wait = backoff * (0.5 + random.random() / 2)
                backoff = min(backoff * 2, self.max_retry)
            if self.stop or deadline is not None and time.monotonic() + wait > deadline:
                log.warning("tasktail: %d messages to %s not sent: the server did not take them in time", len(entries), task_id)
                return
            time.sleep(wait)

    def _refuse(self, task_id: str, why: str) -> None:
        if self.refused.get(task_id) != why:
            self.refused[task_id] = why
            log.warning("tasktail: messages to %s refused: %s", task_id, why)


_live: "weakref.WeakSet[Publisher]" = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for p in list(_live):
        p.close(timeout=5.0)


class _Publishing:
    """What both publishers are made of: a client, the buffer and the sender."""

    def __init__(self, client: Union[Client, str, None] = None, key: Optional[str] = None, *,
                 flush_interval: float = 0.05, max_batch: int = 1000, max_batch_bytes: int = 1 << 20,
                 buffer: int = 10_000, block_timeout: float = 0.1, max_retry: float = 5.0):
        self.client = client if isinstance(client, Client) else Client(client, key=key)
        self._buf = _Buffer(buffer, max_batch, max_batch_bytes)
        self._sender = _Sender(self.client, max_retry)
        self.flush_interval, self.block_timeout = flush_interval, block_timeout

    @property
    def dropped(self) -> int:
        """How many messages were dropped because the buffer was full."""
        return self._buf.total_dropped


class Publisher(_Publishing):
    """Publishes messages from any thread through one background thread, in batches.

    ``log()`` returns at once, or after at most ``block_timeout`` when the buffer of
    ``buffer`` messages is full while the server keeps up; when the server is failing it
    drops at once and returns False. Messages to one task keep their order. A batch is
    sent after ``flush_interval``, or at ``max_batch`` messages or ``max_batch_bytes``.
    Use it as a context manager, or call close(); the interpreter's exit flushes too.
    """

    def __init__(self, client: Union[Client, str, None] = None, key: Optional[str] = None, **options: Any):
        super().__init__(client, key, **options)
        self._cond = threading.Condition()
        self._busy = False  # a batch is being sent
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tasktail-publisher", daemon=True)
        self._thread.start()
        _live.add(self)

    def log(self, task_id: str, level: str, message: str, progress: Optional[float] = None, finished: bool = False,
            **attrs: Any) -> bool:
        """Queue one message; False when it had to be dropped (counted and reported). attrs
        are entry()'s stream, update, section and timestamp."""
        e = entry(level, message, progress, finished, **attrs)
        with self._cond:
            if self._closed:
                return False
            if self._buf.full() and not self._sender.failing:
                self._cond.wait_for(lambda: not self._buf.full(), timeout=self.block_timeout)
            if self._buf.full():
                self._buf.drop(task_id)
                return False
            self._buf.add(task_id, e)
            self._cond.notify_all()
        return True

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until everything queued was sent (or refused); False after timeout."""
        with self._cond:
            self._cond.notify_all()
            return self._cond.wait_for(lambda: not self._buf.items and not self._busy, timeout=timeout)

    def close(self, timeout: Optional[float] = 10.0) -> bool:
        """Flush, then stop the thread; later log() calls return False."""
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._sender.stop = not done
            self._cond.notify_all()
        self._thread.join(timeout=5.0)
        self.client.close()
        _live.discard(self)
        return done

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._buf.items or self._closed)
                if not self._buf.items and self._closed:
                    return
                if len(self._buf.items) < self._buf.max_batch and not self._closed:
                    # Let a burst gather into one batch.
                    self._cond.wait(timeout=self.flush_interval)
                batches = self._buf.take()
                self._busy = True
                self._cond.notify_all()  # room for a waiting log()
            try:
                for task_id, entries in batches:
                    self._sender.settle(task_id, entries, deadline=time.monotonic() + 30.0 if self._closed else None)
            except Exception:  # never let the thread die: the job would block on a full buffer
                log.exception("tasktail: publishing failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class AsyncPublisher(_Publishing):
    """Publisher for asyncio: ``await pub.log(...)``, with the same buffer, batching, order,
    retries and drop reporting. Requests run in the loop's default executor, one batch at a
    time. Use ``async with``, or ``await close()``.
    """

    def __init__(self, client: Union[Client, str, None] = None, key: Optional[str] = None, **options: Any):
        super().__init__(client, key, **options)
        self._cond: Optional[asyncio.Condition] = None
        self._task: Optional["asyncio.Task[None]"] = None
        self._busy = self._closed = False

    def _start(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._cond

    async def log(self, task_id: str, level: str, message: str, progress: Optional[float] = None, finished: bool = False) -> bool:
        """Queue one message; False when it had to be dropped (counted and reported)."""
        e = entry(level, message, progress, finished)
        cond = self._start()
        async with cond:
            if self._closed:
                return False
            if self._buf.full() and not self._sender.failing:
                try:
                    await asyncio.wait_for(cond.wait_for(lambda: not self._buf.full()), self.block_timeout)
                except asyncio.TimeoutError:
                    pass
            if self._buf.full():
                self._buf.drop(task_id)
                return False
            self._buf.add(task_id, e)
            cond.notify_all()
        return True

    async def flush(self, timeout: Optional[float] = None) -> bool:
        cond = self._start()
        async with cond:
            cond.notify_all()
            try:
                await asyncio.wait_for(cond.wait_for(lambda: not self._buf.items and not self._busy), timeout)
                return True
            except asyncio.TimeoutError:
                return False

    async def close(self, timeout: Optional[float] = 10.0) -> bool:
        done = await self.flush(timeout)
        cond = self._start()
        async with cond:
            self._closed = True
            self._sender.stop = not done
            cond.notify_all()
        if self._task is not None:
            await self._task
        self.client.close()
        return done

    async def __aenter__(self) -> "AsyncPublisher":
        self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self) -> None:
        cond = self._cond
        assert cond is not None
        loop = asyncio.get_running_loop()
        while True:
            async with cond:
                await cond.wait_for(lambda: self._buf.items or self._closed)
                if not self._buf.items and self._closed:
                    return
                if len(self._buf.items) < self._buf.max_batch and not self._closed:
                    try:
                        await asyncio.wait_for(cond.wait(), self.flush_interval)
                    except asyncio.TimeoutError:
                        pass
                batches = self._buf.take()
                self._busy = True
                cond.notify_all()
            try:
                for task_id, entries in batches:
                    deadline = time.monotonic() + 30.0 if self._closed else None
                    await loop.run_in_executor(None, self._sender.settle, task_id, entries, deadline)
            except Exception:
                log.exception("tasktail: publishing failed")
            finally:
                async with cond:
                    self._busy = False
                    cond.notify_all()


__all__ = ["Publisher", "AsyncPublisher"]
