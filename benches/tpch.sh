#!/usr/bin/env bash
# Diff benchmark on TPC-H lineitem: builds snapdiff (release), makes a virtual
# environment with the pinned peers (DuckDB, Polars, tpchgen-cli), and runs
# benches/tpch.py, which generates the data, mutates a target and times every tool on
# the same files in one invocation. Arguments go to tpch.py (see `--help`):
#   benches/tpch.sh --sf 1 --deleted 0.001 --changed 0.001 --inserted 0.001
#   benches/tpch.sh --sf 10 --case identical
exec "$(dirname "$0")/run.sh" tpch "$@"
