"""cfgvault: content-addressed backup of an agent framework's session configs.

Open a store with :class:`Vault`, back up a workflow's config closure when a session starts
(:meth:`Vault.backup`), and bring missing configs back when it resumes (:meth:`Vault.ensure`).
The work happens in the Rust library, with the GIL released while it touches the disk.
"""

from __future__ import annotations

from ._native import Vault, __version__, deps
from .errors import (
    Cancelled,
    Error,
    InvalidInput,
    IOError,
    NotAStore,
    NotFound,
    SessionExists,
    SessionNotFound,
    StoreBusy,
    StoreDamaged,
    UnsupportedFormat,
)
from .reports import (
    BackedUpFile,
    BackupReport,
    Change,
    CleanupPlan,
    Dependency,
    Deps,
    Edge,
    EnsureReport,
    GcReport,
    KeyChange,
    Problem,
    PullReport,
    PushReport,
    RestoreReport,
    Session,
    SessionFile,
    Stats,
    Unresolved,
    VerifyReport,
    Version,
)

__all__ = [
    "Vault",
    "deps",
    "__version__",
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
    "BackedUpFile",
    "BackupReport",
    "Change",
    "CleanupPlan",
    "Dependency",
    "Deps",
    "Edge",
    "EnsureReport",
    "GcReport",
    "KeyChange",
    "Problem",
    "PullReport",
    "PushReport",
    "RestoreReport",
    "Session",
    "SessionFile",
    "Stats",
    "Unresolved",
    "VerifyReport",
    "Version",
]
