#!/usr/bin/env bash
# The test command (README.md, .ci/run): every Rust test, then the Python package's tests
# against a wheel that maturin builds, installed into a virtual environment.
#
# The environment is target/pyvenv (override with CFGVAULT_VENV=DIR), created with python3
# (override with PYTHON=...) and given maturin, pytest and mypy from PyPI when it lacks them.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

venv=${CFGVAULT_VENV:-target/pyvenv}
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
venv=$(cd "$venv" && pwd)
if ! "$venv/bin/python" -c 'import maturin, pytest, mypy' 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    'maturin>=1.9,<2' 'pytest>=8' 'mypy>=1.10'
fi

rm -rf target/wheels
"$venv/bin/maturin" build --locked --manifest-path crates/python/Cargo.toml --out target/wheels
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
  --no-deps target/wheels/cfgvault-*.whl

# The type stubs (cfgvault/__init__.pyi) match the installed module, name for name (run in
# target/ so that its cache stays there).
(cd target && "$venv/bin/python" -m mypy.stubtest cfgvault)

# pytest exits 5 when it collected no test: that is a failure here like any other non-zero.
status=0
(cd crates/python && "$venv/bin/python" -m pytest) || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests in crates/python/tests" >&2
fi
exit "$status"
