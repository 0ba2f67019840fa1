"""The exceptions cfgvault raises: one class per kind of failure of the Rust library.

Every exception derives from :class:`Error`; the message names the path or session concerned.
Where a built-in exception fits too, the class also derives from it, so ``except ValueError``
and ``except OSError`` catch what they would expect.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every cfgvault error."""


class NotFound(Error, LookupError):
    """Something named does not exist: a session, a file of a session, a path or a store."""


class SessionNotFound(NotFound):
    """No session has this id."""


class SessionExists(Error):
    """A session with this id exists already."""


class InvalidInput(Error, ValueError):
    """An argument is malformed: a session id, a path, a strategy, a glob, an option."""


class NotAStore(Error):
    """The file exists but is not a cfgvault store."""


class StoreDamaged(Error):
    """The store holds damaged data; ``Vault.verify()`` tells what."""


class UnsupportedFormat(Error):
    """The store was written in a format this build does not read."""


class StoreBusy(Error):
    """Another process or handle holds the store."""


class IOError(Error, OSError):  # noqa: A001 - the name mirrors the Rust ErrorKind::Io
    """A file-system operation failed; ``errno`` is the OS error number when there is one."""


class Cancelled(Error):
    """The operation was cancelled before it committed anything."""


__all__ = [
    "Error",
    "NotFound",
    "SessionNotFound",
    "SessionExists",
    "InvalidInput",
    "NotAStore",
    "StoreDamaged",
    "UnsupportedFormat",
    "StoreBusy",
    "IOError",
    "Cancelled",
]
