#!/usr/bin/env bash
# Diff benchmark on TPC-H lineitem: builds snapdiff (release), makes a virtual
# environment with the pinned peers (DuckDB, Polars, tpchgen-cli), and runs
# benches/tpch.py, which generates the data, mutates a target and times every tool on
# the same files in one invocation. Arguments go to tpch.py (see `--help`):
#   benches/tpch.sh --sf 1 --deleted 0.001 --changed 0.001 --inserted 0.001
#   benches/tpch.sh --sf 10 --case identical
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/snapdiff-target}"
cargo build --release --locked
if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c "import duckdb, polars" 2>/dev/null \
   || [ ! -x "$here/.venv/bin/tpchgen-cli" ]; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
exec "$here/.venv/bin/python" "$here/tpch.py" --snapdiff "$CARGO_TARGET_DIR/release/snapdiff" "$@"
