#!/usr/bin/env bash
# Extraction benchmark: builds snapdiff (release), makes a virtual environment with the
# Python peers (pinned), and runs benches/extract.py. Arguments go to extract.py
# (--rows N, --skip-pg, --skip-sqlite, --pg URL).
exec "$(dirname "$0")/run.sh" extract "$@"
