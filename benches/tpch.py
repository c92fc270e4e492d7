"""Diff TPC-H lineitem against a mutated copy with snapdiff, DuckDB and Polars.

Run through `benches/tpch.sh`, which builds snapdiff and makes the virtual environment.
In one invocation, on the same files, it:

1. generates lineitem at scale factor SF with `tpchgen-cli` (PyPI) into
   `benches/data/sf<SF>/lineitem/` (skipped when already there);
2. derives a target with DuckDB by the mutation below (skipped when already there);
3. runs every tool, interleaved, `--repeat` times, each in its own process, timing the
   wall clock and reading the process's peak RSS from `wait4`; before each run, every
   input file is read once, so every run starts with its inputs in the page cache;
4. checks that every tool found exactly the missing, extra and changed rows the
   mutation made, and prints a table with snapdiff's ratio to DuckDB.

The mutation (seeded, deterministic for a DuckDB version): every row gets
`u = hash(l_orderkey, l_linenumber, seed) % 1_000_000` and `v = hash(...) // 1_000_000 % 14`.
- `u < deleted * 1e6`: the row is deleted from the target (missing);
- the next `changed * 1e6` values of u: non-key column number v (so changes are spread
  over all 14 non-key columns) is changed: numbers +1 (decimals +0.01), dates +1 day,
  flags replaced by `X`, other text gets `!` appended;
- the next `inserted * 1e6` values of u: the row is kept and a copy with
  `l_linenumber + 100` (a key that does not exist) is inserted (extra).

Cases:
- `identical`: lineitem against itself. snapdiff runs every default check, or the
  checks `--checks` names (`--checks hash`, the figures before issue 24); DuckDB runs
  `count(*)` and `bit_xor(hash(every column))` on both sides; Polars `len()` and
  `hash_rows().xor`-style reduction on both sides.
- `diff`: every tool writes every differing row to a Parquet file. DuckDB runs a
  FULL OUTER JOIN on the key with `IS DISTINCT FROM` on every column; Polars a full
  join with the same comparison; snapdiff `snapdiff diff` with every default check
  (schema, count, hash, diff, aggregate), or the checks `--checks` names
  (`--checks count,hash,diff`, the figures before issue 24).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from timing import measure, print_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_PY = sys.executable
KEY = ["l_orderkey", "l_linenumber"]
COLUMNS = [
    "l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity",
    "l_extendedprice", "l_discount", "l_tax", "l_returnflag", "l_linestatus",
    "l_shipdate", "l_commitdate", "l_receiptdate", "l_shipinstruct", "l_shipmode",
    "l_comment",
]
NONKEY = [c for c in COLUMNS if c not in KEY]


def change_expr(i, c):
    """The changed value of non-key column number i (c is its name)."""
    if c in ("l_partkey", "l_suppkey"):
        new = f"{c} + 1"
    elif c in ("l_quantity", "l_extendedprice", "l_discount", "l_tax"):
        new = f"{c} + 0.01"
    elif c in ("l_shipdate", "l_commitdate", "l_receiptdate"):
        new = f"CAST({c} + INTERVAL 1 DAY AS DATE)"
    elif c in ("l_returnflag", "l_linestatus"):
        new = "'X'"
    else:
        new = f"{c} || '!'"
    return f"CASE WHEN __band = 1 AND __v = {i} THEN {new} ELSE {c} END AS {c}"


def generate(sf, data):
    out = data / "lineitem"
    if out.is_dir() and any(out.glob("*.parquet")):
        return out
    parts = max(1, int(sf))
    tmp = data / ".gen"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t = time.time()
    cli = Path(VENV_PY).parent / "tpchgen-cli"
    subprocess.run(
        [str(cli), "parquet", "-s", str(sf), "--tables", "lineitem",
         "--parts", str(parts), "--output-dir", str(tmp)],
        check=True,
    )
    gen = tmp / "lineitem"
    if not gen.is_dir():  # one part: a single file
        gen.mkdir()
        (tmp / "lineitem.parquet").rename(gen / "lineitem.1.parquet")
    gen.rename(out)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"generated lineitem sf{sf} in {time.time() - t:.1f}s", flush=True)
    return out


def mutate(src, data, deleted, changed, inserted, seed):
    name = f"target_d{deleted}_c{changed}_i{inserted}_s{seed}"
    out = data / name
    expected_file = out / "expected.json"
    if expected_file.is_file():
        return out, json.loads(expected_file.read_text())
    import duckdb

    tmp = data / (".tmp-" + name)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    d, c, i = (round(x * 1_000_000) for x in (deleted, changed, inserted))
    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{tmp}/.duckdb_tmp'")
    con.execute("SET enable_progress_bar = false")
    banded = f"""
        SELECT *,
          CASE WHEN __u < {d} THEN 0 WHEN __u < {d + c} THEN 1
               WHEN __u < {d + c + i} THEN 2 ELSE 3 END AS __band
        FROM (SELECT *, hash(l_orderkey, l_linenumber, {seed}) % 1000000 AS __u,
                     hash(l_orderkey, l_linenumber, {seed}) // 1000000 % {len(NONKEY)} AS __v
              FROM read_parquet('{src}/*.parquet'))
    """
    cols = ", ".join(
        c if c in KEY else change_expr(NONKEY.index(c), c) for c in COLUMNS
    )
    copy_cols = ", ".join(
        "l_linenumber + 100 AS l_linenumber" if c == "l_linenumber" else c
        for c in COLUMNS
    )
    t = time.time()
    con.execute(f"""
        COPY (
          SELECT {cols} FROM ({banded}) WHERE __band <> 0
          UNION ALL
          SELECT {copy_cols} FROM ({banded}) WHERE __band = 2
        ) TO '{tmp}/lineitem.parquet' (FORMAT parquet, COMPRESSION snappy)
    """)
    counts = dict(con.execute(
        f"SELECT __band, count(*) FROM ({banded}) GROUP BY __band"
    ).fetchall())
    shutil.rmtree(tmp / ".duckdb_tmp", ignore_errors=True)
    expected = {
        "missing": counts.get(0, 0),
        "changed": counts.get(1, 0),
        "extra": counts.get(2, 0),
    }
    (tmp / "expected.json").write_text(json.dumps(expected))
    tmp.rename(out)
    print(f"mutated ({expected}) in {time.time() - t:.1f}s", flush=True)
    return out, expected


# ---- the tools: each runs in a child process -------------------------------------------

DUCKDB_DIFF = """
import duckdb, sys, json
l, t, out = sys.argv[1:4]
cols = json.loads(sys.argv[4]); key = json.loads(sys.argv[5])
con = duckdb.connect()
con.execute(f"SET temp_directory = '{out}.tmp'")
on = " AND ".join(f"l.{k} = t.{k}" for k in key)
distinct = " OR ".join(f"l.{c} IS DISTINCT FROM t.{c}" for c in cols if c not in key)
sel = ", ".join([f"l.{c} AS l_{c}" for c in cols] + [f"t.{c} AS t_{c}" for c in cols])
con.execute(f'''
  COPY (
    SELECT {sel} FROM read_parquet('{l}/*.parquet') l
    FULL OUTER JOIN read_parquet('{t}/*.parquet') t ON {on}
    WHERE l.{key[0]} IS NULL OR t.{key[0]} IS NULL OR {distinct}
  ) TO '{out}' (FORMAT parquet)
''')
k = key[0]
r = con.execute(f'''SELECT count(*) FILTER (WHERE t_{k} IS NULL),
                           count(*) FILTER (WHERE l_{k} IS NULL),
                           count(*) FILTER (WHERE l_{k} IS NOT NULL AND t_{k} IS NOT NULL)
                    FROM '{out}' ''').fetchone()
print(json.dumps({"missing": r[0], "extra": r[1], "changed": r[2]}))
"""

DUCKDB_HASH = """
import duckdb, sys, json
l, t = sys.argv[1:3]
cols = json.loads(sys.argv[4])
con = duckdb.connect()
h = ", ".join(cols)
res = [con.execute(f"SELECT count(*), bit_xor(hash({h})) FROM read_parquet('{p}/*.parquet')").fetchone() for p in (l, t)]
print(json.dumps({"equal": res[0] == res[1], "rows": res[0][0]}))
"""

POLARS_DIFF = """
import polars as pl, sys, json
l, t, out = sys.argv[1:4]
cols = json.loads(sys.argv[4]); key = json.loads(sys.argv[5])
a = pl.scan_parquet(f'{l}/*.parquet').select([pl.col(c).alias('l_' + c) for c in cols])
b = pl.scan_parquet(f'{t}/*.parquet').select([pl.col(c).alias('t_' + c) for c in cols])
j = a.join(b, left_on=['l_' + k for k in key], right_on=['t_' + k for k in key], how='full', coalesce=False)
k = key[0]
differs = pl.col('l_' + k).is_null() | pl.col('t_' + k).is_null()
for c in cols:
    if c not in key:
        differs = differs | pl.col('l_' + c).ne_missing(pl.col('t_' + c))
j.filter(differs).sink_parquet(out)
r = pl.scan_parquet(out).select(
    missing=pl.col('t_' + k).is_null().sum(),
    extra=pl.col('l_' + k).is_null().sum(),
    changed=(pl.col('l_' + k).is_not_null() & pl.col('t_' + k).is_not_null()).sum(),
).collect().row(0, named=True)
print(json.dumps(r))
"""

POLARS_HASH = """
import polars as pl, sys, json
l, t = sys.argv[1:3]
cols = json.loads(sys.argv[4])
res = []
for p in (l, t):
    df = pl.scan_parquet(f'{p}/*.parquet').select(
        n=pl.len(), h=pl.struct(cols).hash(7).sum()
    ).collect()
    res.append(tuple(df.row(0)))
print(json.dumps({"equal": res[0] == res[1], "rows": res[0][0]}))
"""


def warm(*dirs):
    """Read every input file once, so each run starts with its inputs in the page cache:
    the machine reclaims cache in the background, and DuckDB's 13 GB evicts it, which
    otherwise makes the run after DuckDB's read its inputs from disk. Inputs larger than
    a third of the machine's memory (SF100) cannot stay cached and are not read."""
    files = [f for d in set(dirs) for f in sorted(Path(d).glob("*.parquet"))]
    total = sum(f.stat().st_size for f in files)
    if total > os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 3:
        return
    for d in dirs:
        for f in sorted(Path(d).glob("*.parquet")):
            with open(f, "rb") as fh:
                while fh.read(1 << 23):
                    pass


def snapdiff_counts(report_root):
    reports = sorted(p for p in report_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    rep = json.loads((reports[-1] / "report.json").read_text())
    e = rep["entities"][0]
    d = e.get("diff") or {}
    hashes = [c for c in e["checks"] if c["check"] == "hash"]
    return {
        "missing": d.get("missing", 0),
        "extra": d.get("extra", 0),
        "changed": d.get("changed", 0),
        "equal": bool(hashes) and hashes[0]["status"] == "pass",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sf", type=float, default=1)
    ap.add_argument("--deleted", type=float, default=0.001)
    ap.add_argument("--changed", type=float, default=0.001)
    ap.add_argument("--inserted", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--case", choices=["diff", "identical"], default="diff")
    ap.add_argument("--tools", default="snapdiff,duckdb,polars")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-limit", default=None, help="passed to snapdiff --memory-limit")
    ap.add_argument("--checks", default=None,
                    help="snapdiff's --checks (default: none given, every default check)")
    ap.add_argument("--snapdiff", default=str(ROOT / "target/release/snapdiff"))
    ap.add_argument("--data", default=str(HERE / "data"))
    args = ap.parse_args()

    sf = int(args.sf) if args.sf == int(args.sf) else args.sf
    data = Path(args.data) / f"sf{sf}"
    data.mkdir(parents=True, exist_ok=True)
    legacy = generate(sf, data)
    if args.case == "identical":
        target, expected = legacy, {"equal": True}
    else:
        target, expected = mutate(legacy, data, args.deleted, args.changed, args.inserted, args.seed)
    work = data / "runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()

    cols, key = json.dumps(COLUMNS), json.dumps(KEY)
    tools = args.tools.split(",")
    results = {t: [] for t in tools}
    for rep in range(args.repeat):
        for tool in tools:
            out = work / f"{tool}-{rep}"
            if tool == "snapdiff":
                checks = args.checks
                cmd = [args.snapdiff, "diff", str(legacy), str(target), "--key", ",".join(KEY),
                       "--report", str(out), "--format", "json,diffs", "-q"]
                if checks:
                    cmd += ["--checks", checks]
                if args.memory_limit:
                    cmd += ["--memory-limit", args.memory_limit]
            else:
                script = {
                    ("duckdb", "diff"): DUCKDB_DIFF, ("duckdb", "identical"): DUCKDB_HASH,
                    ("polars", "diff"): POLARS_DIFF, ("polars", "identical"): POLARS_HASH,
                }[(tool, args.case)]
                cmd = [VENV_PY, "-c", script, str(legacy), str(target), str(out) + ".parquet", cols, key]
            warm(legacy, target)
            r = measure(cmd)
            if tool == "snapdiff":
                got = snapdiff_counts(out)
            else:
                got = json.loads(r["out"].strip().splitlines()[-1])
            if args.case == "identical":
                ok = got["equal"] is True
            else:
                ok = all(got[k] == expected[k] for k in ("missing", "extra", "changed"))
            if not ok:
                raise SystemExit(f"{tool} disagrees: expected {expected}, got {got}")
            results[tool].append((r["wall"], r["rss"]))
            print(f"  {tool:9} run {rep + 1}: {r['wall']:7.2f} s {r['rss']:8.0f} MiB  {got}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
            for p in work.glob(f"{tool}-{rep}*"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()

    if args.repeat == 0:
        print("data ready (--repeat 0: nothing timed)")
        return
    snapdiff_checks = args.checks or "every default check"
    print(f"\nlineitem sf{sf}, case {args.case}, snapdiff checks: {snapdiff_checks}"
          + ("" if args.case == "identical" else f", expected {expected}")
          + f", {args.repeat} runs, median (range)")
    print_table(results)


if __name__ == "__main__":
    main()
