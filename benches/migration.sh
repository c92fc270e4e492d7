#!/usr/bin/env bash
# The migration benchmark: builds snapdiff (release), makes a virtual environment with
# the pinned peers (DuckDB), and runs benches/migration.py, which generates a legacy
# shop in SQLite and its migrated target in PostgreSQL, snapshots both, and times
# `snapdiff verify` (every default check) against the same verification hand-written in
# DuckDB, interleaved. Arguments go to migration.py (see `--help`):
#   benches/migration.sh                         # 2,000,000 orders, 0.1% differences
#   benches/migration.sh --orders 200000 --repeat 5
exec "$(dirname "$0")/run.sh" migration "$@"
