#!/usr/bin/env bash
# The rules benchmark: builds snapdiff (release), makes a virtual environment with the
# pinned peers (DuckDB), and runs benches/rules.py, which times each normalisation rule
# on 10 million values against DuckDB's nearest built-in. Arguments go to rules.py
# (see `--help`):
#   benches/rules.sh
#   benches/rules.sh --rules parse,json,round --repeat 5
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/snapdiff-target}"
cargo build --release --locked
if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c "import duckdb" 2>/dev/null; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
exec "$here/.venv/bin/python" "$here/rules.py" --snapdiff "$CARGO_TARGET_DIR/release/snapdiff" "$@"
