"""Shared fixtures: the real config history (../shared/corpus beside the repository, or
$CFGVAULT_CORPUS), unpacked once per test run, and fresh stores and config roots per test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

import cfgvault

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "open-agent-configs.tar.zst"

# The seed-era snapshot (the layout the design describes), one from the middle of the history,
# the newest, and a pair where provider files were renamed and a shared config was rewritten.
SNAPSHOTS = ("snap-0021", "snap-0060", "snap-0090", "snap-0091", "snap-0102")


def corpus_archive() -> Path:
    """The packed corpus; fails the test, naming where it looked, when it is absent."""
    override = os.environ.get("CFGVAULT_CORPUS")
    path = Path(override) if override else DEFAULT_CORPUS
    if not path.is_file():
        pytest.fail(
            f"corpus archive not found at '{path}' (set CFGVAULT_CORPUS to its path)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding SNAPSHOTS, each `snap-NNNN/configs/…` as in the archive."""
    archive = corpus_archive()
    out = tmp_path_factory.mktemp("corpus")
    unzstd = subprocess.Popen(["zstd", "-dc", str(archive)], stdout=subprocess.PIPE)
    members = [f"{s}/configs" for s in SNAPSHOTS]
    subprocess.run(["tar", "-x", "-C", str(out), *members], stdin=unzstd.stdout, check=True)
    assert unzstd.wait() == 0, f"zstd could not read '{archive}'"
    return out


def read_tree(root: Path) -> Dict[str, bytes]:
    """Every file under `root`, by its `/`-separated relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def configs(corpus: Path, tmp_path: Path) -> Path:
    """A writable copy of the seed-era snapshot's config root."""
    dst = tmp_path / "configs"
    shutil.copytree(corpus / "snap-0021" / "configs", dst)
    return dst


@pytest.fixture
def vault(tmp_path: Path):
    with cfgvault.Vault(tmp_path / "store" / "store.redb") as v:
        yield v
