#!/usr/bin/env bash
# What every benchmark script in this folder needs first: snapdiff built (release), and
# benches/.venv with the pinned peers of requirements.txt (DuckDB, Polars, tpchgen-cli,
# connectorx, pyarrow). Then runs `benches/SCRIPT.py --snapdiff BINARY ARGS...`:
#   benches/run.sh migration --repeat 3
# The scripts' own wrappers (migration.sh, rules.sh, tpch.sh, extract.sh) call this.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
script="$1"
shift
cd "$here/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/snapdiff-target}"
cargo build --release --locked
if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c "import duckdb, polars, connectorx, pyarrow" 2>/dev/null \
   || [ ! -x "$here/.venv/bin/tpchgen-cli" ]; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
exec "$here/.venv/bin/python" "$here/$script.py" --snapdiff "$CARGO_TARGET_DIR/release/snapdiff" "$@"
