"""Push and pull through a shared remote (a `file://` folder here; `s3://` goes through the
same library calls): what one store pushes another pulls back byte-identical, pushes and pulls
move only what is missing, and an id the remote holds with other content is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import cfgvault

from conftest import read_tree


@pytest.fixture(autouse=True)
def no_remote_key(monkeypatch):
    """The remotes here are plain unless a test sets a key."""
    monkeypatch.delenv("CFGVAULT_REMOTE_KEY", raising=False)
    monkeypatch.delenv("CFGVAULT_REMOTE_KEY_FILE", raising=False)


@pytest.fixture
def remote(tmp_path: Path) -> str:
    return (tmp_path / "remote").as_uri()


def store(tmp_path: Path, name: str) -> cfgvault.Vault:
    return cfgvault.Vault(tmp_path / name / "store.redb")


def test_a_pushed_session_pulls_back_byte_identical(corpus, tmp_path, remote):
    snapshots = {"s21": "snap-0021", "s102": "snap-0102"}
    with store(tmp_path, "a") as a:
        for sid, snap in snapshots.items():
            a.backup(corpus / snap / "configs", "workflows/react.yaml", session=sid)
        pushed = a.push(remote)
        assert sorted(pushed.pushed) == sorted(snapshots) and pushed.unchanged == []
        assert pushed.objects_uploaded > 0 and pushed.bytes_uploaded > 0

        again = a.push(remote)
        assert again.pushed == [] and sorted(again.unchanged) == sorted(snapshots)
        assert again.objects_uploaded == 0 and again.bytes_uploaded == 0

        with store(tmp_path, "b") as b:
            pulled = b.pull(remote, ["s21"])
            assert pulled.pulled == ["s21"] and pulled.unchanged == []
            assert pulled.objects_downloaded > 0 and pulled.bytes_downloaded > 0
            assert [s.id for s in b.sessions()] == ["s21"]

            rest = b.pull(remote)
            assert rest.pulled == ["s102"] and rest.unchanged == ["s21"]
            # Pulling what the store holds reads at most each session's manifest (to compare
            # content), no pack.
            repeat = b.pull(remote)
            assert repeat.pulled == [] and sorted(repeat.unchanged) == sorted(snapshots)
            assert repeat.objects_downloaded <= len(snapshots)
            assert repeat.bytes_downloaded < pulled.bytes_downloaded + rest.bytes_downloaded

            for sid, snap in snapshots.items():
                assert b.session(sid).to_dict() == a.session(sid).to_dict()
                files = b.files(sid)
                assert [f.to_dict() for f in files] == [f.to_dict() for f in a.files(sid)]
                disk = read_tree(corpus / snap / "configs")
                for f in files:
                    assert b.read_file(sid, f.path) == disk[f.path], f.path
            assert b.verify().ok


def test_pushing_an_id_the_remote_holds_with_other_content_is_refused(configs, tmp_path, remote):
    with store(tmp_path, "a") as a, store(tmp_path, "b") as b:
        a.backup(configs, "workflows/react.yaml", session="shared-id")
        a.push(remote)
        (configs / "global.yaml").write_text("changed: true\n")
        b.backup(configs, "workflows/react.yaml", session="shared-id")
        with pytest.raises(cfgvault.SessionExists, match="shared-id"):
            b.push(remote, "shared-id")
        # Nothing was overwritten: the remote still holds a's session, and b cannot pull it
        # over its own.
        with store(tmp_path, "c") as c:
            c.pull(remote)
            assert c.read_file("shared-id", "global.yaml") == a.read_file(
                "shared-id", "global.yaml"
            )
        with pytest.raises(cfgvault.SessionExists, match="shared-id"):
            b.pull(remote, ["shared-id"])


def test_ensure_pulls_a_session_the_store_lacks(configs, tmp_path, remote):
    with store(tmp_path, "a") as a:
        r = a.backup(configs, "workflows/react.yaml", session="resume-me")
        a.push(remote, [r.session])
    original = read_tree(configs)
    elsewhere = tmp_path / "elsewhere"
    with store(tmp_path, "b") as b:
        with pytest.raises(cfgvault.SessionNotFound):
            b.ensure("resume-me", elsewhere)
        ensured = b.ensure("resume-me", elsewhere, remote=remote)
        assert sorted(ensured.restored) == sorted(f.path for f in r.files)
        for f in r.files:
            assert (elsewhere / f.path).read_bytes() == original[f.path], f.path
        assert [s.id for s in b.sessions()] == ["resume-me"]
        # Held locally now: the remote is not needed again.
        shutil.rmtree(tmp_path / "remote")
        assert b.ensure("resume-me", elsewhere, remote=remote).ok == ensured.restored


def test_remote_errors_raise_by_kind(configs, tmp_path, remote, monkeypatch):
    with store(tmp_path, "a") as a:
        with pytest.raises(cfgvault.InvalidInput, match="ftp://"):
            a.push("ftp://example.invalid/x")
        a.backup(configs, "workflows/react.yaml", session="s")
        a.push(remote)
        with pytest.raises(cfgvault.SessionNotFound, match="missing"):
            a.pull(remote, ["missing"])

        # An encrypted remote: the wrong key (or none) reads nothing.
        sealed = (tmp_path / "sealed").as_uri()
        monkeypatch.setenv("CFGVAULT_REMOTE_KEY", "right key")
        assert a.push(sealed).pushed == ["s"]
        with store(tmp_path, "b") as b:
            monkeypatch.setenv("CFGVAULT_REMOTE_KEY", "wrong key")
            with pytest.raises(cfgvault.InvalidInput):
                b.pull(sealed)
            monkeypatch.delenv("CFGVAULT_REMOTE_KEY")
            with pytest.raises(cfgvault.InvalidInput):
                b.pull(sealed)
            assert b.sessions() == []
            monkeypatch.setenv("CFGVAULT_REMOTE_KEY", "right key")
            assert b.pull(sealed).pulled == ["s"]
            assert b.read_file("s", "global.yaml") == (configs / "global.yaml").read_bytes()
