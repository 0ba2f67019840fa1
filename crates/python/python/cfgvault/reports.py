"""What cfgvault's operations return: plain, immutable classes with a readable ``repr`` and a
``to_dict()`` (nested reports become dicts and lists; datetimes stay timezone-aware datetimes).

The extension module builds these; they hold copies, never references into the store.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Dict, List, Optional


class _Report:
    def to_dict(self) -> Dict[str, Any]:
        """The fields as a dict, nested reports included."""
        fields: Dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]
        return fields


@dataclasses.dataclass(frozen=True)
class Session(_Report):
    """A stored session's record."""

    id: str
    created_at: datetime
    workflow: Optional[str]
    strategy: str
    file_count: int
    logical_bytes: int
    pinned: bool
    labels: Dict[str, str]
    source_root: str
    root: str


@dataclasses.dataclass(frozen=True)
class BackedUpFile(_Report):
    """One file of a backup: where it is, what the analysis says it is, and its content id."""

    path: str
    kind: str
    size: int
    id: str
    new: bool


@dataclasses.dataclass(frozen=True)
class Unresolved(_Report):
    """A reference the dependency analysis could not resolve (``source`` holds it)."""

    source: str
    key: str
    value: str
    reason: str


@dataclasses.dataclass(frozen=True)
class BackupReport(_Report):
    """What a backup stored (``files``), could not resolve (``unresolved``) and could not
    parse or found circular (``warnings``)."""

    session: Session
    files: List[BackedUpFile]
    unresolved: List[Unresolved]
    warnings: List[str]
    new_objects: int
    bytes_added: int


@dataclasses.dataclass(frozen=True)
class EnsureReport(_Report):
    """What ``ensure`` did (or, with ``dry_run``, would do), as lists of paths; ``errors``
    gives why each failed path failed, ``diffs`` (when asked for) each drifted file's unified
    diff from the session to the disk."""

    session: str
    root: str
    restored: List[str]
    ok: List[str]
    drifted: List[str]
    failed: List[str]
    errors: Dict[str, str]
    diffs: Dict[str, str]
    dry_run: bool


@dataclasses.dataclass(frozen=True)
class RestoreReport(_Report):
    """What ``restore`` wrote, found already in place, skipped (changed on disk) or failed on."""

    session: str
    target: str
    restored: List[str]
    unchanged: List[str]
    skipped: List[str]
    failed: List[str]
    errors: Dict[str, str]


@dataclasses.dataclass(frozen=True)
class KeyChange(_Report):
    """One changed key path of a YAML or JSON file (``nodes.plan.config.temperature``,
    ``fallback_models[0]``): ``change`` is added, removed or changed; ``old`` and ``new`` are
    its values as ``json.loads`` gives them (``None`` on the side that lacks the key)."""

    key: str
    change: str
    old: Any
    new: Any


@dataclasses.dataclass(frozen=True)
class Change(_Report):
    """One path that differs: ``status`` is added, removed, modified or renamed (``old_path``
    is then where it came from and ``similarity`` the percent of lines in common). For a YAML
    or JSON file whose content changed and parses on both sides, ``keys`` lists its changed key
    paths (``truncated`` when there were more), and ``formatting_only`` says only comments or
    formatting changed."""

    path: str
    status: str
    old_path: Optional[str] = None
    similarity: Optional[int] = None
    keys: List[KeyChange] = dataclasses.field(default_factory=list)
    formatting_only: bool = False
    truncated: bool = False


@dataclasses.dataclass(frozen=True)
class Version(_Report):
    """One distinct content a path had, with the first and last session times holding it."""

    path: str
    id: str
    size: int
    first_seen: datetime
    last_seen: datetime
    sessions: int


@dataclasses.dataclass(frozen=True)
class SessionFile(_Report):
    """A file of a stored session, with its permission bits."""

    path: str
    id: str
    size: int
    mode: int


@dataclasses.dataclass(frozen=True)
class CleanupPlan(_Report):
    """Sessions a retention policy removes (newest first) and keeps, and what removing frees."""

    removed: List[str]
    kept: List[str]
    objects_freed: int
    bytes_freed: int
    dry_run: bool


@dataclasses.dataclass(frozen=True)
class GcReport(_Report):
    """What ``gc`` swept, packed and compacted."""

    objects_removed: int
    bytes_freed: int
    packed: int
    packs_written: int
    file_bytes_before: int
    file_bytes_after: int
    compacted: bool
    compaction_skipped: Optional[str]


@dataclasses.dataclass(frozen=True)
class Problem(_Report):
    """One discrepancy ``verify`` found."""

    kind: str
    id: Optional[str]
    detail: str


@dataclasses.dataclass(frozen=True)
class VerifyReport(_Report):
    """``ok`` when every object re-hashed to its id and every count matched."""

    ok: bool
    problems: List[Problem]
    objects_checked: int
    bytes_checked: int
    roots_checked: int
    repaired: bool


@dataclasses.dataclass(frozen=True)
class Stats(_Report):
    """Sessions, sizes and ratios of a store."""

    sessions: int
    logical_bytes: int
    unique_bytes: int
    stored_bytes: int
    file_bytes: int
    objects: int
    oldest: Optional[datetime]
    newest: Optional[datetime]
    dedup_ratio: float
    compression_ratio: float
    overall_ratio: float


@dataclasses.dataclass(frozen=True)
class PushReport(_Report):
    """What ``push`` made visible on the remote (``pushed``), found already there with the same
    content (``unchanged``), and uploaded."""

    pushed: List[str]
    unchanged: List[str]
    objects_uploaded: int
    bytes_uploaded: int


@dataclasses.dataclass(frozen=True)
class PullReport(_Report):
    """What ``pull`` created in the local store (``pulled``), found already there with the same
    content (``unchanged``), and downloaded."""

    pulled: List[str]
    unchanged: List[str]
    objects_downloaded: int
    bytes_downloaded: int


@dataclasses.dataclass(frozen=True)
class Dependency(_Report):
    """One file of a workflow's config closure and what kind of config it is."""

    path: str
    kind: str


@dataclasses.dataclass(frozen=True)
class Edge(_Report):
    """A resolved reference: ``source``'s ``key`` = ``value`` pulled in ``target`` by ``rule``."""

    source: str
    key: str
    value: str
    target: str
    rule: str


@dataclasses.dataclass(frozen=True)
class Deps(_Report):
    """A workflow's config closure, without storing anything."""

    workflow: Optional[str]
    files: List[Dependency]
    edges: List[Edge]
    unresolved: List[Unresolved]
    cycles: List[List[str]]


__all__ = [
    "Session",
    "BackedUpFile",
    "Unresolved",
    "BackupReport",
    "EnsureReport",
    "RestoreReport",
    "KeyChange",
    "Change",
    "Version",
    "SessionFile",
    "CleanupPlan",
    "GcReport",
    "Problem",
    "VerifyReport",
    "Stats",
    "PushReport",
    "PullReport",
    "Dependency",
    "Edge",
    "Deps",
]
