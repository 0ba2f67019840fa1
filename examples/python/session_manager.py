"""A session manager as an agent framework would write it on cfgvault.

When a session is created, the workflow's whole config closure (LLM providers and the
``common.yaml`` they inherit, token counters, tool sets and tools, agents, ``global.yaml``) is
backed up as one cfgvault session. When the session is resumed, possibly days later,
``ensure`` brings back every config that has gone missing since, and the configs that were
edited are left alone and reported as drift.

Run it on a config root::

    python examples/python/session_manager.py CONFIG_ROOT workflows/react.yaml [STORE]
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Union

import cfgvault

log = logging.getLogger("session_manager")

PathLike = Union[str, Path]


class ConfigDrift(UserWarning):
    """A config of a resumed session differs from what it was when the session started."""


class SessionManager:
    """Creates and resumes agent sessions, keeping each session's configs in a cfgvault store."""

    def __init__(self, config_root: PathLike, store: Optional[PathLike] = None) -> None:
        self.config_root = Path(config_root)
        self.vault = cfgvault.Vault(store or self.config_root / ".cfgvault" / "store.redb")

    def __enter__(self) -> "SessionManager":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.vault.close()

    def create_session(self, workflow: str, labels: Optional[Dict[str, str]] = None) -> str:
        """Backs up the workflow's config closure; returns the new session's id."""
        report = self.vault.backup(self.config_root, workflow, labels=labels)
        for ref in report.unresolved:
            log.warning("%s: %s = %s: %s", ref.source, ref.key, ref.value, ref.reason)
        log.info(
            "session %s: %d configs backed up (%d new)",
            report.session.id,
            len(report.files),
            sum(f.new for f in report.files),
        )
        return report.session.id

    def resume_session(self, session_id: str) -> cfgvault.EnsureReport:
        """Brings back the session's missing configs; warns about the ones that drifted."""
        report = self.vault.ensure(session_id, self.config_root, diff=True)
        for path in report.restored:
            log.info("session %s: restored %s", session_id, path)
        for path in report.drifted:
            warnings.warn(
                f"session {session_id}: {path} changed since the session started:\n"
                + report.diffs.get(path, ""),
                ConfigDrift,
                stacklevel=2,
            )
        for path in report.failed:
            log.error("session %s: could not restore %s: %s", session_id, path, report.errors[path])
        return report

    def sessions(self) -> List[cfgvault.Session]:
        return self.vault.sessions()


def main(argv: List[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root, workflow = argv[0], argv[1]
    store = argv[2] if len(argv) == 3 else None
    with SessionManager(root, store) as manager:
        session = manager.create_session(workflow)
        report = manager.resume_session(session)
        print(f"{session}: {len(report.ok)} configs in place, {len(report.restored)} restored")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
