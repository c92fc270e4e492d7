"""Each normalisation rule on 10 million values: snapdiff's function against DuckDB's
nearest built-in, on the same Parquet file, interleaved.

Run through `benches/rules.sh`, which builds snapdiff and makes the virtual environment.
It generates `benches/data/rules-<rows>/rules.parquet` with DuckDB (one column per
rule's input, a fixed seed), snapshots it with `snapdiff extract`, and then, `--repeat`
times, runs each rule in its own process with each tool:

- snapdiff: `snapdiff sql SPEC "SELECT count(EXPR) FROM legacy.rules"`, EXPR being the
  SQL the rule becomes in an entity's view (the lenient `sd_try_*` forms);
- DuckDB: `SELECT count(EXPR) FROM read_parquet(...)` with its nearest built-in.

`count(...)` makes every value be computed (the results can be NULL) without comparing
or printing them. Each tool also times reading every input column with no rule, each
value touched (`count(length(column))` for text): what reading the values costs. Both tools must count the same non-NULL results (the
rules and the built-ins agree on this data), else the script fails. The table gives the
median wall time of each, and each less its own tool's time to read the rule's column.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from timing import measure, median as med

HERE = Path(__file__).resolve().parent
VENV_PY = sys.executable

# rule: (column, snapdiff expression, DuckDB expression)
RULES = {
    "trim": ("s_pad", "count(sd_trim(s_pad))", "count(trim(s_pad))"),
    "lower": ("s_mixed", "count(lower(s_mixed))", "count(lower(s_mixed))"),
    "empty_as_null": ("note", "count(NULLIF(note, ''))", "count(NULLIF(note, ''))"),
    "map": ("code", "count(sd_map(code, 'N', 'new', 'P', 'paid', 'S', 'shipped', 'C', 'cancelled'))",
            "count(CASE code WHEN 'N' THEN 'new' WHEN 'P' THEN 'paid' WHEN 'S' THEN 'shipped' "
            "WHEN 'C' THEN 'cancelled' ELSE code END)"),
    "parse": ("ts_text", "count(sd_try_parse_timestamp(ts_text, '%Y-%m-%d %H:%M:%S'))",
              "count(try_strptime(ts_text, '%Y-%m-%d %H:%M:%S'))"),
    "timezone": ("ts_local", "count(sd_try_local_to_utc(ts_local, 'Europe/Berlin', 'earlier', 'before'))",
                 "count(timezone('Europe/Berlin', ts_local))"),
    "parse+timezone": ("ts_text", "count(sd_try_local_to_utc(sd_try_parse_timestamp(ts_text, '%Y-%m-%d %H:%M:%S'), "
                                  "'Europe/Berlin', 'earlier', 'before'))",
                       "count(timezone('Europe/Berlin', try_strptime(ts_text, '%Y-%m-%d %H:%M:%S')))"),
    "round": ("f", "count(sd_try_round(f, 2))", "count(round(f, 2))"),
    "numeric": ("num_text", "count(sd_try_numeric(num_text))", "count(TRY_CAST(num_text AS DECIMAL(38, 10)))"),
    "bool": ("b_text", "count(sd_try_bool(b_text))", "count(TRY_CAST(b_text AS BOOLEAN))"),
    "json": ("j", "count(sd_try_json(j))", "count(json(j))"),
    "date": ("d_text", "count(sd_try_date(d_text))", "count(TRY_CAST(d_text AS DATE))"),
    "nfc": ("s_mixed", "count(sd_nfc(s_mixed))", "count(nfc_normalize(s_mixed))"),
    "precision": ("ts_local", "count(sd_trunc(ts_local, 's'))", "count(date_trunc('second', ts_local))"),
}

# Reading a column with no rule, each value touched (a bare `count(column)` may be answered
# from the file's statistics): text by `length`, the others by a cheap expression.
READS = {
    "ts_local": ("count(date_part('year', ts_local))", "count(year(ts_local))"),
    "f": ("count(f + 1)", "count(f + 1)"),
}

GENERATE = """
COPY (
  SELECT
    CASE WHEN h % 3 = 0 THEN 'Customer.' || i || '@Example.COM' ELSE 'customer.' || i || '@example.com' END AS s_mixed,
    CASE WHEN h % 4 = 0 THEN '  sku-' || (h >> 8) % 5000 || ' ' ELSE 'sku-' || (h >> 8) % 5000 END AS s_pad,
    CASE WHEN h % 10 < 7 THEN '' ELSE 'leave at door ' || i END AS note,
    ['N', 'P', 'S', 'C'][CAST(1 + (h >> 12) % 4 AS INTEGER)] AS code,
    strftime(ts, '%Y-%m-%d %H:%M:%S') AS ts_text,
    ts AS ts_local,
    CAST((h >> 16) % 10000000 - 7 AS DOUBLE) / 100 + 0.07 AS f,
    CAST((h >> 16) % 10000000 AS VARCHAR) || '.' || lpad(CAST(h % 100 AS VARCHAR), 2, '0') AS num_text,
    ['0', '1', 'true', 'false'][CAST(1 + (h >> 20) % 4 AS INTEGER)] AS b_text,
    '{{"express": ' || CASE WHEN h % 5 = 0 THEN 'true' ELSE 'false' END || ', "address": {{"zip": "'
      || lpad(CAST((h >> 24) % 99999 AS VARCHAR), 5, '0') || '", "city": "Berlin"}}, "n": ' || (h >> 30) % 1000 || '}}' AS j,
    strftime(ts, '%Y-%m-%d') AS d_text
  FROM (SELECT i, h, TIMESTAMP '2016-01-01 06:00:00' + to_days(CAST(h % 3200 AS INTEGER))
                    + to_seconds(CAST((h >> 12) % 57600 AS BIGINT)) AS ts
        FROM (SELECT i, CAST(hash(i, 7) >> 1 AS BIGINT) AS h FROM range({rows}) t(i)))
) TO '{out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)
"""

SPEC = """\
# The rules benchmark's spec (written by benches/rules.py): one Parquet file on each side.
[snapshots]
root = "snapshots"
[sources.legacy]
url = "input"
[sources.target]
url = "input"
"""

DUCKDB_RUN = """
import duckdb, sys, json
path, expr = sys.argv[1:3]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
print(json.dumps(con.execute(f"SELECT {expr} FROM read_parquet('{path}')").fetchone()[0]))
"""

def prepare(args):
    work = Path(args.data) / f"rules-{args.rows}"
    spec = work / "verify.toml"
    if spec.is_file():
        return work
    import duckdb

    shutil.rmtree(work, ignore_errors=True)
    (work / "input").mkdir(parents=True)
    t = time.time()
    duckdb.connect().execute(GENERATE.format(rows=args.rows, out=work / "input" / "rules.parquet"))
    print(f"generated {args.rows:,} rows in {time.time() - t:.1f}s", flush=True)
    (work / "spec.tmp").write_text(SPEC)
    subprocess.run([args.snapdiff, "extract", str(work / "spec.tmp"), "--quiet"], check=True)
    (work / "spec.tmp").rename(spec)
    return work


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rules", default=",".join(RULES), help="comma-separated (default: every rule)")
    ap.add_argument("--snapdiff", required=True)
    ap.add_argument("--data", default=str(HERE / "data"))
    args = ap.parse_args()
    work = prepare(args)
    parquet = str(work / "input" / "rules.parquet")
    rules = args.rules.split(",")
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise SystemExit(f"unknown rules {unknown}; the rules are {', '.join(RULES)}")
    reads = sorted({RULES[r][0] for r in rules})
    cases = {f"read {c}": (c, *READS.get(c, (f"count(length({c}))", f"count(length({c}))"))) for c in reads}
    cases.update({r: RULES[r] for r in rules})
    times = {(r, t): [] for r in cases for t in ("snapdiff", "duckdb")}
    for rep in range(args.repeat):
        for rule, (_, sd_expr, duck_expr) in cases.items():
            counts = {}
            for tool in ("snapdiff", "duckdb"):
                if tool == "snapdiff":
                    cmd = [args.snapdiff, "sql", str(work / "verify.toml"),
                           f"SELECT {sd_expr} AS n FROM legacy.rules", "--format", "json"]
                else:
                    cmd = [VENV_PY, "-c", DUCKDB_RUN, parquet, duck_expr]
                r = measure(cmd, exit_codes=(0,))
                out = json.loads(r["out"].strip().splitlines()[-1])
                counts[tool] = out[0]["n"] if isinstance(out, list) else out
                times[(rule, tool)].append(r["wall"])
            if counts["snapdiff"] != counts["duckdb"]:
                raise SystemExit(f"{rule}: snapdiff counted {counts['snapdiff']}, DuckDB {counts['duckdb']}")
            print(f"  run {rep + 1} {rule:15} snapdiff {times[(rule, 'snapdiff')][-1]:6.2f} s  "
                  f"duckdb {times[(rule, 'duckdb')][-1]:6.2f} s  ({counts['snapdiff']:,} values)", flush=True)

    if args.repeat == 0:
        print("data ready (--repeat 0: nothing timed)")
        return

    print(f"\n{args.rows:,} values a rule, {args.repeat} runs, median seconds (range); "
          "'less read' takes away the tool's own time to read the rule's column")
    print("| rule | snapdiff | DuckDB | snapdiff less read | DuckDB less read | ratio (less read) |")
    print("|---|---:|---:|---:|---:|---:|")
    for rule, (col, _, _) in cases.items():
        s, d = times[(rule, "snapdiff")], times[(rule, "duckdb")]
        read = rule.startswith("read ")
        ns = med(s) - (0 if read else med(times[(f"read {col}", "snapdiff")]))
        nd = med(d) - (0 if read else med(times[(f"read {col}", "duckdb")]))
        ratio = "-" if read else (f"{ns / nd:.2f}x" if nd > 0.01 else "(DuckDB < 0.01 s)")
        print(f"| {rule} | {med(s):.2f} ({min(s):.2f}-{max(s):.2f}) | {med(d):.2f} ({min(d):.2f}-{max(d):.2f}) "
              f"| {ns:.2f} | {nd:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
