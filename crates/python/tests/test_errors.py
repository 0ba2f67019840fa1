"""Every exception class, raised by the failure it names, with a message naming the path or
session; and the store left usable after each."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import cfgvault


def test_the_classes_mirror_the_error_kinds_and_the_builtins_they_fit():
    for cls in (
        cfgvault.NotFound,
        cfgvault.SessionExists,
        cfgvault.InvalidInput,
        cfgvault.NotAStore,
        cfgvault.StoreDamaged,
        cfgvault.UnsupportedFormat,
        cfgvault.StoreBusy,
        cfgvault.IOError,
        cfgvault.Cancelled,
    ):
        assert issubclass(cls, cfgvault.Error)
    assert issubclass(cfgvault.SessionNotFound, cfgvault.NotFound)
    assert issubclass(cfgvault.NotFound, LookupError)
    assert issubclass(cfgvault.InvalidInput, ValueError)
    assert issubclass(cfgvault.IOError, OSError)


def test_session_not_found_and_not_found(configs, tmp_path, vault):
    with pytest.raises(cfgvault.SessionNotFound, match="'nope'"):
        vault.session("nope")
    with pytest.raises(cfgvault.SessionNotFound, match="'nope'"):
        vault.ensure("nope", configs)
    r = vault.backup(configs, "workflows/react.yaml", session="s")
    with pytest.raises(cfgvault.NotFound, match="no file 'missing.yaml'") as e:
        vault.read_file(r.session, "missing.yaml")
    assert not isinstance(e.value, cfgvault.SessionNotFound)
    with pytest.raises(cfgvault.NotFound, match="absent.redb"):
        cfgvault.Vault(tmp_path / "absent.redb", create=False)
    with pytest.raises(cfgvault.NotFound, match="workflows/absent.yaml"):
        vault.backup(configs, "workflows/absent.yaml")


def test_session_exists(configs, vault):
    vault.backup(configs, "workflows/react.yaml", session="twice")
    with pytest.raises(cfgvault.SessionExists, match="'twice'"):
        vault.backup(configs, "workflows/react.yaml", session="twice")
    assert len(vault.sessions()) == 1


def test_invalid_input_is_a_value_error(configs, vault):
    with pytest.raises(ValueError, match="'bogus'"):
        vault.backup(configs, "workflows/react.yaml", strategy="bogus")
    with pytest.raises(cfgvault.InvalidInput, match="invalid session id"):
        vault.backup(configs, "workflows/react.yaml", session="no spaces/allowed")
    with pytest.raises(cfgvault.InvalidInput, match="sometimes"):
        vault.ensure("x", configs, overwrite="sometimes")
    with pytest.raises(cfgvault.InvalidInput, match="not a directory"):
        vault.backup(configs / "global.yaml", "workflows/react.yaml")
    with pytest.raises(cfgvault.InvalidInput, match="'tree' strategy"):
        vault.backup(configs, strategy="comprehensive")
    with pytest.raises(cfgvault.InvalidInput, match="not both"):
        vault.diff("a", "b", root=configs)
    assert vault.sessions() == []


def test_not_a_store(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a store\n" * 500)
    with pytest.raises(cfgvault.NotAStore, match="notes.txt"):
        cfgvault.Vault(path)
    assert path.read_bytes() == b"not a store\n" * 500


def test_store_busy_while_another_handle_holds_it_exclusively(tmp_path):
    path = tmp_path / "store.redb"
    with cfgvault.Vault(path, shared=False):
        with pytest.raises(cfgvault.StoreBusy, match="store.redb"):
            cfgvault.Vault(path, shared=False)
    with cfgvault.Vault(path, shared=False) as again:
        assert again.sessions() == []


def test_io_error_is_an_os_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder\n")
    with pytest.raises(OSError, match="file") as e:
        cfgvault.Vault(blocker / "sub" / "store.redb")
    assert isinstance(e.value, cfgvault.IOError)
    assert e.value.errno == errno.ENOTDIR
    assert str(blocker) in e.value.strerror


def test_store_damaged_when_a_stored_object_no_longer_hashes_to_its_id(tmp_path):
    root = tmp_path / "configs"
    root.mkdir()
    payload = os.urandom(8192)  # incompressible: stored verbatim inside its zstd frame
    (root / "blob.bin").write_bytes(payload)
    store = tmp_path / "store.redb"
    with cfgvault.Vault(store) as v:
        v.backup(root, session="s")
    raw = bytearray(store.read_bytes())
    at = raw.find(payload[1000:1064])
    assert at >= 0, "the stored object was not found in the store file"
    raw[at + 10] ^= 0xFF
    store.write_bytes(bytes(raw))
    with cfgvault.Vault(store) as v:
        with pytest.raises(cfgvault.StoreDamaged, match="corrupt"):
            v.read_file("s", "blob.bin")
        checked = v.verify()
        assert not checked.ok
        assert [p.kind for p in checked.problems] == ["corrupt"]


def test_a_closed_vault_refuses_calls(tmp_path):
    v = cfgvault.Vault(tmp_path / "store.redb")
    v.close()
    v.close()
    assert v.closed
    with pytest.raises(cfgvault.InvalidInput, match="closed"):
        v.sessions()


def test_an_exception_in_progress_cancels_gc_and_propagates(configs, vault):
    vault.backup(configs, "workflows/react.yaml")
    calls = []

    def stop(phase: str, done: int, total):
        calls.append(phase)
        if phase == "pack":
            raise cfgvault.Cancelled("stopped by the caller")

    with pytest.raises(cfgvault.Cancelled, match="stopped by the caller"):
        vault.gc(progress=stop)
    assert calls[-1] == "pack" and calls.count("pack") == 1
    assert vault.verify().ok
    g = vault.gc()
    assert g.packs_written == 1, "the cancelled gc must not have packed anything"

    class Boom(Exception):
        pass

    def boom(phase, done, total):
        raise Boom(phase)

    with pytest.raises(Boom):
        vault.verify(progress=boom)


def test_an_exception_in_progress_cancels_a_backup_which_stores_nothing(configs, vault):
    seen = []

    def stop_once_read(phase, done, total):
        seen.append((phase, done, total))
        if done > 0:
            raise KeyboardInterrupt

    try:
        vault.backup(configs, "workflows/react.yaml", progress=stop_once_read)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the callback's exception did not propagate")
    assert seen[0] == ("read", 0, seen[-1][2]) and seen[-1][1] > 0
    assert vault.sessions() == [] and vault.stats().objects == 0
    done = vault.backup(configs, "workflows/react.yaml", progress=lambda *a: None)
    assert len(done.files) == seen[0][2]


def test_restore_and_ensure_report_each_file_and_an_exception_stops_them(configs, vault, tmp_path):
    report = vault.backup(configs, "workflows/react.yaml")
    total = len(report.files)
    assert total > 1
    seen = []
    target = tmp_path / "restored"
    vault.restore(report.session, target, progress=lambda *a: seen.append(a))
    assert seen[0] == ("write", 0, total) and seen[-1] == ("write", total, total)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == sorted(
        f.path for f in report.files
    )

    class Stop(Exception):
        pass

    def stop_after_one(phase, done, total):
        if done >= 1:
            raise Stop(phase)

    other = tmp_path / "partial"
    with pytest.raises(Stop):
        vault.restore(report.session, other, progress=stop_after_one)
    written = [p for p in other.rglob("*") if p.is_file()]
    assert 1 <= len(written) < total, "the restore must stop between whole files"
    assert not [p for p in written if ".cfgvault-restore" in p.name]

    # ensure: the same reports, and stopping leaves the rest missing.
    seen.clear()
    done = vault.ensure(report.session, other, progress=lambda *a: seen.append(a))
    assert seen[-1] == ("write", total, total)
    assert len(done.restored) == total - len(written)
