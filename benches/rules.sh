#!/usr/bin/env bash
# The rules benchmark: builds snapdiff (release), makes a virtual environment with the
# pinned peers (DuckDB), and runs benches/rules.py, which times each normalisation rule
# on 10 million values against DuckDB's nearest built-in. Arguments go to rules.py
# (see `--help`):
#   benches/rules.sh
#   benches/rules.sh --rules parse,json,round --repeat 5
exec "$(dirname "$0")/run.sh" rules "$@"
