"""A logging.Handler that publishes log records to tasktail."""
from __future__ import annotations

import logging
from typing import Optional

from .publisher import Publisher


def level_of(record: logging.LogRecord) -> str:
    """tasktail's level of a record: DEBUG debug, INFO info, WARNING warning, ERROR error,
    CRITICAL critical (levels between go down to the one below); extra={"level": "success"}
    picks one by name."""
    named = getattr(record, "level", None)
    if isinstance(named, str):
        return named
    n = record.levelno
    if n >= logging.CRITICAL:
        return "critical"
    if n >= logging.ERROR:
        return "error"
    if n >= logging.WARNING:
        return "warning"
    if n >= logging.INFO:
        return "info"
    return "debug"


class TasktailHandler(logging.Handler):
    """Publishes each record to a task: the handler's task_id, or extra={"task_id": …}.

    ``extra={"progress": 40}`` sets the task's progress and ``extra={"finished": True}``
    ends it. Records go through a Publisher, so logging never waits on the network. A
    record without a task_id is skipped.
    """

    def __init__(self, task_id: Optional[str] = None, publisher: Optional[Publisher] = None, *,
                 base_url: Optional[str] = None, key: Optional[str] = None, level: int = logging.NOTSET):
        super().__init__(level)
        self.task_id = task_id
        self._own = publisher is None
        self.publisher = publisher or Publisher(base_url, key=key)

    def emit(self, record: logging.LogRecord) -> None:
        task_id = getattr(record, "task_id", None) or self.task_id
        if not task_id:
            return
        try:
            self.publisher.log(task_id, level_of(record), self.format(record),
                               progress=getattr(record, "progress", None), finished=bool(getattr(record, "finished", False)))
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.publisher.flush(timeout=5.0)

    def close(self) -> None:
        if self._own:
            self.publisher.close()
        super().close()
