"""Errors the tasktail API answers, as exceptions: one class per error code."""
from __future__ import annotations

from typing import Optional


class TasktailError(Exception):
    """Any error tasktail answered, or could not answer.

    ``status`` is the HTTP status (0 when the server could not be reached), ``code`` the
    API's error code (``invalid_argument``, ``not_found``, …), ``retry_after`` the seconds
    a 429 or 503 asked to wait.
    """

    def __init__(self, message: str, status: int = 0, code: str = "", retry_after: Optional[float] = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later: unreachable, 408, 429 or 5xx."""
        return self.status == 0 or self.status in (408, 429) or self.status >= 500


class Unreachable(TasktailError):
    """The server could not be reached, or the connection broke."""


class InvalidArgument(TasktailError):
    """400: a field breaks the contract (the message names it)."""


class Unauthorized(TasktailError):
    """401: no credential, or one that is not valid (an expired token, say)."""


class Forbidden(TasktailError):
    """403: the credential does not open this task."""


class NotFound(TasktailError):
    """404: the task does not exist."""


class TaskFinished(TasktailError):
    """409: the task has finished; restart it to publish again."""


class TooLarge(TasktailError):
    """413: a message, batch or body over the server's limits."""


class RateLimited(TasktailError):
    """429: over the key's publish rate; retry_after says when."""


class Unavailable(TasktailError):
    """503: draining, at a limit, or the journal cannot store; retry_after says when."""


_BY_CODE = {
    "invalid_argument": InvalidArgument,
    "unauthenticated": Unauthorized,
    "permission_denied": Forbidden,
    "not_found": NotFound,
    "task_finished": TaskFinished,
    "too_large": TooLarge,
    "rate_limited": RateLimited,
    "unavailable": Unavailable,
    "journal_unavailable": Unavailable,
}


def error_for(status: int, code: str, message: str, retry_after: Optional[float]) -> TasktailError:
    """The exception of an error answer."""
    cls = _BY_CODE.get(code, TasktailError)
    return cls(f"{status} {code}: {message}", status=status, code=code, retry_after=retry_after)
