#!/usr/bin/env bash
# The migration benchmark: builds snapdiff (release), makes a virtual environment with
# the pinned peers (DuckDB), and runs benches/migration.py, which generates a legacy
# shop in SQLite and its migrated target in PostgreSQL, snapshots both, and times
# `snapdiff verify` (every default check) against the same verification hand-written in
# DuckDB, interleaved. Arguments go to migration.py (see `--help`):
#   benches/migration.sh                         # 2,000,000 orders, 0.1% differences
#   benches/migration.sh --orders 200000 --repeat 5
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/snapdiff-target}"
cargo build --release --locked
if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c "import duckdb" 2>/dev/null; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
exec "$here/.venv/bin/python" "$here/migration.py" --snapdiff "$CARGO_TARGET_DIR/release/snapdiff" "$@"
