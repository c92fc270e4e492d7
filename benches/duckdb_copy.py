#!/usr/bin/env python3
"""Read CSV from standard input with DuckDB and write it as a zstd Parquet file (argv[1])."""
import sys

import duckdb

duckdb.sql(
    f"COPY (SELECT * FROM read_csv('/dev/stdin', header = false)) TO '{sys.argv[1]}' (FORMAT parquet, COMPRESSION zstd)"
)
