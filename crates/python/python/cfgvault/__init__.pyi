"""Type stubs of the cfgvault package (the Vault class and deps() come from the Rust extension)."""

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union, final

from .errors import (
    Cancelled as Cancelled,
    Error as Error,
    InvalidInput as InvalidInput,
    IOError as IOError,
    NotAStore as NotAStore,
    NotFound as NotFound,
    SessionExists as SessionExists,
    SessionNotFound as SessionNotFound,
    StoreBusy as StoreBusy,
    StoreDamaged as StoreDamaged,
    UnsupportedFormat as UnsupportedFormat,
)
from .reports import (
    BackedUpFile as BackedUpFile,
    BackupReport as BackupReport,
    Change as Change,
    CleanupPlan as CleanupPlan,
    Dependency as Dependency,
    Deps as Deps,
    Edge as Edge,
    EnsureReport as EnsureReport,
    GcReport as GcReport,
    KeyChange as KeyChange,
    Problem as Problem,
    PullReport as PullReport,
    PushReport as PushReport,
    RestoreReport as RestoreReport,
    Session as Session,
    SessionFile as SessionFile,
    Stats as Stats,
    Unresolved as Unresolved,
    VerifyReport as VerifyReport,
    Version as Version,
)

__version__: str
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

_StrPath = Union[str, "os.PathLike[str]"]
# A session id, or a Session record (its ``.id`` is used).
_SessionRef = Union[str, Session]
# Called as ``progress(phase, done, total)``; an exception raised in it stops the operation
# before it commits and propagates.
_Progress = Callable[[str, int, Optional[int]], object]

@final
class Vault:
    """An open cfgvault store; a context manager; safe to share between threads."""

    def __new__(cls, path: _StrPath, *, create: bool = True, shared: bool = True) -> "Vault": ...
    @property
    def path(self) -> Path: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Vault": ...
    def __exit__(self, *exc: object) -> bool: ...
    def backup(
        self,
        root: _StrPath,
        workflow: Optional[_StrPath] = None,
        *,
        session: Optional[str] = None,
        strategy: Optional[str] = None,
        exclude: Sequence[str] = ...,
        labels: Optional[Dict[str, str]] = None,
        created_at: Optional[datetime] = None,
        progress: Optional[_Progress] = None,
    ) -> BackupReport: ...
    def ensure(
        self,
        session: _SessionRef,
        root: Optional[_StrPath] = None,
        *,
        overwrite: str = "never",
        dry_run: bool = False,
        diff: bool = False,
        remote: Optional[str] = None,
        progress: Optional[_Progress] = None,
    ) -> EnsureReport: ...
    def push(
        self, url: str, sessions: Optional[Union[_SessionRef, Iterable[_SessionRef]]] = None
    ) -> PushReport: ...
    def pull(
        self, url: str, sessions: Optional[Union[_SessionRef, Iterable[_SessionRef]]] = None
    ) -> PullReport: ...
    def restore(
        self,
        session: _SessionRef,
        target: Optional[_StrPath] = None,
        *,
        paths: Optional[Sequence[_StrPath]] = None,
        overwrite: str = "if-unchanged",
        progress: Optional[_Progress] = None,
    ) -> RestoreReport: ...
    def read_file(self, session: _SessionRef, path: _StrPath) -> bytes: ...
    def diff(
        self,
        a: _SessionRef,
        b: Optional[_SessionRef] = None,
        *,
        root: Optional[_StrPath] = None,
        all_files: bool = False,
    ) -> List[Change]: ...
    def versions(self, path: _StrPath) -> List[Version]: ...
    def session(self, id: _SessionRef) -> Session: ...
    def sessions(
        self, *, limit: Optional[int] = None, label: Optional[Tuple[str, str]] = None
    ) -> List[Session]: ...
    def files(self, session: _SessionRef) -> List[SessionFile]: ...
    def pin(self, session: _SessionRef) -> None: ...
    def unpin(self, session: _SessionRef) -> None: ...
    def set_labels(self, session: _SessionRef, labels: Dict[str, str]) -> None: ...
    def update_labels(
        self, session: _SessionRef, changes: Dict[str, Optional[str]]
    ) -> Dict[str, str]: ...
    def resolve_session(self, prefix: str) -> str: ...
    def delete(self, sessions: Union[_SessionRef, Iterable[_SessionRef]]) -> None: ...
    def cleanup(
        self,
        *,
        older_than: Optional[timedelta] = None,
        keep_last: Optional[int] = None,
        keep_daily: Optional[int] = None,
        keep_weekly: Optional[int] = None,
        dry_run: bool = False,
    ) -> CleanupPlan: ...
    def gc(self, *, progress: Optional[_Progress] = None) -> GcReport: ...
    def verify(
        self, *, repair: bool = False, progress: Optional[_Progress] = None
    ) -> VerifyReport: ...
    def stats(self) -> Stats: ...

def deps(
    root: _StrPath,
    workflow: _StrPath,
    *,
    strategy: str = "comprehensive",
    exclude: Sequence[str] = ...,
) -> Deps: ...
