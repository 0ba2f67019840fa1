"""examples/python/session_manager.py, run against the real corpus."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from conftest import REPO, read_tree

EXAMPLE = REPO / "examples" / "python" / "session_manager.py"


def load_example():
    spec = importlib.util.spec_from_file_location("session_manager", EXAMPLE)
    assert spec and spec.loader, f"cannot load {EXAMPLE}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_session_manager_restores_missing_configs_and_warns_about_drift(configs, tmp_path):
    example = load_example()
    original = read_tree(configs)
    with example.SessionManager(configs, tmp_path / "store.redb") as manager:
        session = manager.create_session("workflows/react.yaml", labels={"user": "ada"})
        assert [s.id for s in manager.sessions()] == [session]

        # Days later: the provider's common.yaml is gone and global.yaml was edited.
        (configs / "llms/provider/openai/common.yaml").unlink()
        (configs / "global.yaml").write_text("log_level: DEBUG\n")

        with pytest.warns(example.ConfigDrift, match="global.yaml changed") as drift:
            report = manager.resume_session(session)
    assert "+log_level: DEBUG" in str(drift[0].message)
    assert report.restored == ["llms/provider/openai/common.yaml"]
    assert report.drifted == ["global.yaml"]
    after = read_tree(configs)
    assert after["llms/provider/openai/common.yaml"] == original["llms/provider/openai/common.yaml"]
    assert after["global.yaml"] == b"log_level: DEBUG\n"


def test_session_manager_runs_as_a_script(configs, tmp_path):
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), str(configs), "workflows/react.yaml", str(tmp_path / "s.redb")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "configs in place, 0 restored" in out.stdout, out
