"""tasktail for Python: publish task logs and progress to a tasktail server, and follow them.

Publishing needs only the standard library; ``tail``, ``atail`` and
``ConnectionManager.connect`` need ``tasktail[bridge]`` (websockets).
"""
from .client import LEVELS, Client, entry
from .errors import (Forbidden, InvalidArgument, NotFound, RateLimited, TaskFinished, TasktailError, TooLarge,
                     Unauthorized, Unavailable, Unreachable)
from .handler import TasktailHandler
from .manager import ConnectionManager
from .publisher import AsyncPublisher, Publisher
from .tail import atail, tail

__version__ = "0.1.0"

__all__ = [
    "Client", "entry", "LEVELS", "Publisher", "AsyncPublisher", "TasktailHandler", "ConnectionManager", "tail", "atail",
    "TasktailError", "Unreachable", "InvalidArgument", "Unauthorized", "Forbidden", "NotFound", "TaskFinished",
    "TooLarge", "RateLimited", "Unavailable", "__version__",
]
