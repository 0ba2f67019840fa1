"""Type stubs of the cfgvault package (the Vault class and deps() come from the Rust extension)."""

import os
from datetime import datetime, timedelta
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

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
    Problem as Problem,
    RestoreReport as RestoreReport,
    Session as Session,
    SessionFile as SessionFile,
    Stats as Stats,
    Unresolved as Unresolved,
    VerifyReport as VerifyReport,
    Version as Version,
)

__version__: str

StrPath = Union[str, "os.PathLike[str]"]
SessionRef = Union[str, Session]
"""A session id, or a Session record (its ``.id`` is used)."""
ProgressCallback = Callable[[str, int, Optional[int]], object]
"""Called as ``progress(phase, done, total)``; an exception raised in it stops the operation
before it commits and propagates."""

class Vault:
    """An open cfgvault store; a context manager; safe to share between threads."""

    def __init__(self, path: StrPath, *, create: bool = True, shared: bool = True) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Vault": ...
    def __exit__(self, *exc: object) -> bool: ...
    def backup(
        self,
        root: StrPath,
        workflow: Optional[StrPath] = None,
        *,
        session: Optional[str] = None,
        strategy: Optional[str] = None,
        exclude: Sequence[str] = (),
        labels: Optional[Dict[str, str]] = None,
        created_at: Optional[datetime] = None,
        progress: Optional[ProgressCallback] = None,
    ) -> BackupReport: ...
    def ensure(
        self,
        session: SessionRef,
        root: Optional[StrPath] = None,
        *,
        overwrite: str = "never",
        dry_run: bool = False,
    ) -> EnsureReport: ...
    def restore(
        self,
        session: SessionRef,
        target: Optional[StrPath] = None,
        *,
        paths: Optional[Sequence[StrPath]] = None,
        overwrite: str = "if-unchanged",
    ) -> RestoreReport: ...
    def read_file(self, session: SessionRef, path: StrPath) -> bytes: ...
    def diff(
        self,
        a: SessionRef,
        b: Optional[SessionRef] = None,
        *,
        root: Optional[StrPath] = None,
        all_files: bool = False,
    ) -> List[Change]: ...
    def versions(self, path: StrPath) -> List[Version]: ...
    def session(self, id: SessionRef) -> Session: ...
    def sessions(
        self, *, limit: Optional[int] = None, label: Optional[Tuple[str, str]] = None
    ) -> List[Session]: ...
    def files(self, session: SessionRef) -> List[SessionFile]: ...
    def pin(self, session: SessionRef) -> None: ...
    def unpin(self, session: SessionRef) -> None: ...
    def set_labels(self, session: SessionRef, labels: Dict[str, str]) -> None: ...
    def update_labels(
        self, session: SessionRef, changes: Dict[str, Optional[str]]
    ) -> Dict[str, str]: ...
    def resolve_session(self, prefix: str) -> str: ...
    def delete(self, sessions: Union[SessionRef, Iterable[SessionRef]]) -> None: ...
    def cleanup(
        self,
        *,
        older_than: Optional[timedelta] = None,
        keep_last: Optional[int] = None,
        keep_daily: Optional[int] = None,
        keep_weekly: Optional[int] = None,
        dry_run: bool = False,
    ) -> CleanupPlan: ...
    def gc(self, *, progress: Optional[ProgressCallback] = None) -> GcReport: ...
    def verify(
        self, *, repair: bool = False, progress: Optional[ProgressCallback] = None
    ) -> VerifyReport: ...
    def stats(self) -> Stats: ...

def deps(
    root: StrPath,
    workflow: StrPath,
    *,
    strategy: str = "comprehensive",
    exclude: Sequence[str] = (),
) -> Deps: ...
