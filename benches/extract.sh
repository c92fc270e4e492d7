#!/usr/bin/env bash
# Extraction benchmark: builds snapdiff (release), makes a virtual environment with the
# Python peers (pinned), and runs benches/extract.py. Arguments go to extract.py
# (--rows N, --skip-pg, --skip-sqlite, --pg URL).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/snapdiff-target}"
cargo build --release --locked
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
exec "$here/.venv/bin/python" "$here/extract.py" --snapdiff "$CARGO_TARGET_DIR/release/snapdiff" "$@"
