#!/usr/bin/env python3
"""Extraction benchmark: snapdiff against the tools a user would otherwise use.

Builds a table of N rows and 10 columns in SQLite and in PostgreSQL. Then, in the same
run and on the same data, it times:

  * snapdiff extract (Parquet, zstd)
  * Python connectorx + pyarrow writing Parquet (zstd), read with 2 partitions
  * sqlite3 -csv | DuckDB, and COPY ... TO STDOUT (FORMAT csv) | DuckDB, writing Parquet (zstd)
  * the database alone streaming the rows out: sqlite3 SELECT * to /dev/null, a sqlite3 scan
    that decodes every column without printing it, and COPY ... TO STDOUT to /dev/null

It prints wall time, rows/s and peak RSS (the largest process of a pipeline, from GNU time),
and checks every tool wrote N rows. Run it through benches/extract.sh, which makes the
virtual environment with the Python peers.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def timed(label, cmd, env=None):
    """Run `cmd` under GNU time; return (seconds, peak RSS in MiB)."""
    tf = Path("/tmp/snapdiff-bench-time.txt")
    full = f"/usr/bin/time -f '%e %M' -o {tf} bash -c {json.dumps(cmd)}"
    t0 = time.monotonic()
    r = subprocess.run(full, shell=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"{label} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    _, rss_kb = tf.read_text().split()[-2:]
    return wall, int(rss_kb) / 1024


def parquet_rows(path):
    import pyarrow.parquet as pq

    p = Path(path)
    files = [p] if p.is_file() else sorted(p.rglob("*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def snapdiff_rows(out):
    manifests = list(Path(out).glob("*/*/manifest.json"))
    assert len(manifests) == 1, manifests
    m = json.loads(manifests[0].read_text())
    return sum(t["rows"] for t in m["tables"].values())


def make_sqlite(path, n):
    if path.exists():
        return
    print(f"building {path} ({n} rows) ...", flush=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    sql = f"""
    PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
    CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c REAL, d TEXT, e TEXT,
                    f TEXT, g REAL, h INTEGER, i TEXT);
    WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < {n})
    INSERT INTO t SELECT k, k % 1000, k * 7919, k / 3.0, 'name-' || (k % 50000), 'user' || k || '@example.org',
        datetime(1700000000 + k, 'unixepoch'), round((k % 100000) / 100.0, 2), k % 2,
        date(19000 + (k % 3000) * 86400, 'unixepoch')
    FROM s;
    """
    sh(f"sqlite3 {tmp}", input=sql, text=True)
    tmp.rename(path)


def pg_exec(url, sql):
    sh(f"psql -q -v ON_ERROR_STOP=1 {url}", input=sql, text=True)


def pg_count(url, table):
    r = subprocess.run(f"psql -At {url} -c 'SELECT count(*) FROM {table}'", shell=True, capture_output=True, text=True, check=True)
    return int(r.stdout.strip())


def ensure_pg(url, n):
    table = f"snapdiff_bench.t{n}"
    try:
        if pg_count(url, table) == n:
            return table
    except subprocess.CalledProcessError:
        pass
    print(f"building {table} in PostgreSQL ({n} rows) ...", flush=True)
    pg_exec(
        url,
        f"""
        CREATE SCHEMA IF NOT EXISTS snapdiff_bench;
        DROP TABLE IF EXISTS {table};
        CREATE TABLE {table} (id bigint PRIMARY KEY, a int, b bigint, c double precision, d text, e text,
                              f timestamp, g numeric(12,2), h boolean, i date);
        INSERT INTO {table} SELECT k, k % 1000, k::bigint * 7919, k / 3.0, 'name-' || (k % 50000), 'user' || k || '@example.org',
            to_timestamp(1700000000 + k) AT TIME ZONE 'UTC', round((k % 100000) / 100.0, 2), k % 2 = 1,
            date '2022-01-01' + (k % 3000)
        FROM generate_series(1, {n}) k;
        VACUUM ANALYZE {table};
        """,
    )
    return table


DUCKDB_COPY = HERE / "duckdb_copy.py"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--data", default=str(HERE / "data"))
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--snapdiff", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release/snapdiff"))
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool, interleaved; the median is reported")
    args = ap.parse_args()

    n = args.rows
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/snapdiff-bench-out")
    py = sys.executable
    results = []

    runs = {}  # (source, tool) -> [(seconds, rss)]
    plan = []  # (source, tool, cmd, out, count), run round-robin `repeat` times

    def measure(source, tool, cmd, out, count):
        plan.append((source, tool, cmd, out, count))

    def run_plan():
        for r in range(args.repeat):
            for source, tool, cmd, out, count in plan:
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                secs, rss = timed(tool, cmd)
                rows = count(out) if count else n
                if rows != n:
                    sys.exit(f"{tool} on {source} wrote {rows} rows, expected {n}")
                runs.setdefault((source, tool), []).append((secs, rss))
                print(f"[{r + 1}/{args.repeat}] {source:<9} {tool:<42} {secs:8.2f} s  {rss:8.0f} MiB", flush=True)
        plan.clear()
        for (source, tool), xs in runs.items():
            if any(r[0] == source and r[1] == tool for r in results):
                continue
            times = sorted(x[0] for x in xs)
            med = times[len(times) // 2]
            rss = max(x[1] for x in xs)
            results.append((source, tool, med, n / med, rss, times[0], times[-1]))

    if not args.skip_sqlite:
        db = data / f"bench_{n}.db"
        make_sqlite(db, n)
        sh("sync")
        # Warm the page cache so every tool reads from memory.
        sh(f"cat {db} > /dev/null")
        measure("sqlite", "sqlite3 SELECT * > /dev/null (baseline)", f"sqlite3 {db} 'SELECT * FROM t' > /dev/null", None, None)
        every = ", ".join(f"max({c})" for c in "id a b c d e f g h i".split())
        measure("sqlite", "sqlite3 scan, max() of every column (baseline)", f"sqlite3 {db} 'SELECT {every} FROM t' > /dev/null", None, None)
        measure(
            "sqlite",
            "snapdiff extract",
            f"{args.snapdiff} extract --source sqlite://{db} --table t --out {work} --quiet",
            work,
            snapdiff_rows,
        )
        measure(
            "sqlite",
            "connectorx + pyarrow (2 partitions)",
            f"{py} -c \"import connectorx as cx, pyarrow.parquet as pq; "
            f"pq.write_table(cx.read_sql('sqlite://{db}', 'SELECT * FROM t', return_type='arrow', "
            f"partition_on='id', partition_num=2), '{work}/t.parquet', compression='zstd')\"",
            work / "t.parquet",
            parquet_rows,
        )
        measure(
            "sqlite",
            "sqlite3 -csv | duckdb",
            f"sqlite3 -csv {db} 'SELECT * FROM t' | {py} {DUCKDB_COPY} {work}/t.parquet",
            work / "t.parquet",
            parquet_rows,
        )
        run_plan()

    if not args.skip_pg:
        table = ensure_pg(args.pg, n)
        measure("postgres", "COPY TO STDOUT > /dev/null (baseline)", f"psql {args.pg} -c 'COPY {table} TO STDOUT' > /dev/null", None, None)
        measure(
            "postgres",
            "snapdiff extract",
            f"{args.snapdiff} extract --source {args.pg} --table {table} --out {work} --quiet",
            work,
            snapdiff_rows,
        )
        measure(
            "postgres",
            "connectorx + pyarrow (2 partitions)",
            f"{py} -c \"import connectorx as cx, pyarrow.parquet as pq; "
            f"pq.write_table(cx.read_sql('{args.pg}', 'SELECT * FROM {table}', return_type='arrow', "
            f"partition_on='id', partition_num=2), '{work}/t.parquet', compression='zstd')\"",
            work / "t.parquet",
            parquet_rows,
        )
        measure(
            "postgres",
            "COPY (FORMAT csv) | duckdb",
            f"psql {args.pg} -c 'COPY {table} TO STDOUT (FORMAT csv)' | {py} {DUCKDB_COPY} {work}/t.parquet",
            work / "t.parquet",
            parquet_rows,
        )
        run_plan()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    lines = [
        f"# extraction benchmark, {n:,} rows x 10 columns, {os.cpu_count()} cores, {stamp}",
        "",
        f"Median of {args.repeat} interleaved runs (min-max in brackets); peak RSS is the largest of the runs.",
        "",
        "| source | tool | seconds | rows/s | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|",
    ]
    for source, tool, secs, rate, rss, lo, hi in results:
        lines.append(f"| {source} | {tool} | {secs:.2f} ({lo:.2f}-{hi:.2f}) | {rate:,.0f} | {rss:.0f} |")
    lines.append("")
    for source in ("sqlite", "postgres"):
        ours = [r for r in results if r[0] == source and r[1] == "snapdiff extract"]
        for base in [r for r in results if r[0] == source and "baseline" in r[1]]:
            if ours:
                lines.append(f"- {source}: snapdiff / {base[1].replace(' (baseline)', '')} = {ours[0][2] / base[2]:.2f}x")
    text = "\n".join(lines) + "\n"
    (out / f"extract-{stamp}.md").write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
