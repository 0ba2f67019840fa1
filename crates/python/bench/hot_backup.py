"""The hot path through Python against the same call from Rust (docs/BENCHMARKS.md, "Python").

A backup of `workflows/react.yaml` of the corpus's newest snapshot whose files are all stored
already (the hot path), in interleaved rounds: once as `Vault.backup` from Python (timed around
the whole call: argument conversion, GIL release, the report objects), once as
`cfgvault::Vault::backup` timed inside Rust (`_rust_backup_seconds`, built with the `bench`
feature), alternating which goes first. Prints the medians and their ratio.

    maturin build --release --features bench --manifest-path crates/python/Cargo.toml --out DIR
    pip install DIR/cfgvault-*.whl
    python crates/python/bench/hot_backup.py [--rounds N] [--corpus FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cfgvault
from cfgvault import _native

REPO = Path(__file__).resolve().parents[3]
WORKFLOW = "workflows/react.yaml"
SNAPSHOT = "snap-0102"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument(
        "--corpus",
        default=os.environ.get("CFGVAULT_CORPUS")
        or str(REPO.parent / "shared" / "corpus" / "open-agent-configs.tar.zst"),
    )
    args = parser.parse_args()
    if not hasattr(_native, "_rust_backup_seconds"):
        print("build the wheel with --features bench", file=sys.stderr)
        return 2
    corpus = Path(args.corpus)
    if not corpus.is_file():
        print(f"corpus not found at '{corpus}' (set CFGVAULT_CORPUS or --corpus)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="cfgvault-pybench-") as tmp:
        unzstd = subprocess.Popen(["zstd", "-dc", str(corpus)], stdout=subprocess.PIPE)
        subprocess.run(
            ["tar", "-x", "-C", tmp, f"{SNAPSHOT}/configs"], stdin=unzstd.stdout, check=True
        )
        unzstd.wait()
        root = str(Path(tmp) / SNAPSHOT / "configs")
        with cfgvault.Vault(Path(tmp) / "store.redb") as vault:
            first = vault.backup(root, WORKFLOW)
            for _ in range(20):  # warm: caches filled, every file stored
                vault.backup(root, WORKFLOW)
            python, rust = [], []
            for i in range(args.rounds):
                for side in ("py", "rs") if i % 2 == 0 else ("rs", "py"):
                    if side == "py":
                        start = time.perf_counter()
                        vault.backup(root, WORKFLOW)
                        python.append(time.perf_counter() - start)
                    else:
                        rust.append(_native._rust_backup_seconds(vault, root, WORKFLOW))
            sessions = len(vault.sessions())

    py_ms = statistics.median(python) * 1e3
    rs_ms = statistics.median(rust) * 1e3
    print(f"{WORKFLOW} of {SNAPSHOT}: {len(first.files)} files, {args.rounds} rounds, "
          f"{sessions} sessions at the end")
    print(f"Rust   Vault::backup  median {rs_ms:.3f} ms")
    print(f"Python Vault.backup   median {py_ms:.3f} ms")
    print(f"Python / Rust         {py_ms / rs_ms:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
