"""One Vault shared by four threads backing up at once."""

from __future__ import annotations

import shutil
import threading

import cfgvault


def test_four_threads_back_up_through_one_vault(corpus, tmp_path, vault):
    roots = []
    for i, snap in enumerate(["snap-0021", "snap-0060", "snap-0102", "snap-0102"]):
        root = tmp_path / f"configs-{i}"
        shutil.copytree(corpus / snap / "configs", root)
        roots.append(root)
    rounds = 5
    start = threading.Barrier(len(roots))
    results: dict[int, list[cfgvault.BackupReport]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait()
            results[i] = [
                vault.backup(roots[i], "workflows/react.yaml", session=f"t{i}-{n}")
                for n in range(rounds)
            ]
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(roots))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    assert len(vault.sessions()) == len(roots) * rounds
    for i, reports in results.items():
        first = reports[0]
        for r in reports:
            assert [(f.path, f.id) for f in r.files] == [(f.path, f.id) for f in first.files]
            for f in r.files:
                assert vault.read_file(r.session, f.path) == (roots[i] / f.path).read_bytes()
        # Repeats of an unchanged closure store nothing new.
        assert all(not f.new for r in reports[1:] for f in r.files)
    # The two copies of the same snapshot share every object.
    assert [f.id for f in results[2][0].files] == [f.id for f in results[3][0].files]
    checked = vault.verify()
    assert checked.ok, checked.problems
