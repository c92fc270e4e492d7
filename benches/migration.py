"""The path users take: a shop migration verified with every default check, snapdiff
against the same verification hand-written in DuckDB SQL, on the same snapshot files.

Run through `benches/migration.sh`, which builds snapdiff and makes the virtual
environment. In one invocation it:

1. generates a legacy shop (SQLite) and its migrated target (PostgreSQL, schema
   `snapdiff_migration` of the `--pg` database) at the chosen scale, with differences
   injected on purpose and recorded in `expected.json` (skipped when the snapshots of
   that scale, seed and rate are already there);
2. snapshots both sides once with `snapdiff extract` (not timed);
3. runs, interleaved and `--repeat` times, each in its own process with its inputs in
   the page cache: `snapdiff verify SPEC` (every default check, every report file) and
   a DuckDB script doing the same verification by hand over the same Parquet files;
4. fails unless both report exactly the injected missing, extra and changed rows of
   every entity, then prints wall time, peak RSS and snapdiff's ratio to DuckDB.

The data (`--orders N`, default 2,000,000; customers N/10; order lines 2.5 N on average):

| legacy (SQLite)                  | target (PostgreSQL)                                   | rule           |
|----------------------------------|-------------------------------------------------------|----------------|
| customers.id INTEGER             | accounts.legacy_id, accounts.id a UUID (the key map)  | joins          |
| customers.email, mixed case, some padded | accounts.email, lower case                   | trim, lower    |
| customers.name                   | profiles.display_name (customers split in two)        | join           |
| customers.created_at, Berlin wall-clock text | accounts.created_at timestamptz           | parse+timezone |
| customers.is_vip 0/1             | accounts.is_vip boolean                               | bool           |
| customers.prefs JSON text, keys in any order and spacing | profiles.prefs jsonb          | json           |
| customers.balance REAL, a sum of two floats | profiles.balance numeric(12,2)             | round 2        |
| orders.status code N/P/S/C       | orders.status word                                    | map            |
| orders.placed_at, Berlin text    | orders.placed_at timestamptz                          | parse+timezone |
| orders.total REAL                | orders.total numeric(12,2)                            | round 2        |
| orders.note, '' for none         | orders.note NULL for none                             | empty_as_null  |
| orders.shipping JSON text        | orders.shipping jsonb                                 | json           |
| order_lines.sku upper case, some padded | order_lines.sku lower case                     | trim, lower    |
| order_lines.price REAL           | order_lines.unit_price numeric(10,2)                  | round 2        |

Local times fall between 06:00 and 22:59, so none is ambiguous or skipped by a clock
change: there DuckDB's `timezone()` takes the later instant and snapdiff (like Python)
the earlier one by default, and the two would disagree on purpose, not by mistake.

Injected differences, each a share `--rate` (default 0.001) of the rows, picked by a
seeded hash of the key: a customer's profile missing (missing customer), an email
changed, an extra account and profile; an order missing with its lines, an order's total
(+0.01), status or time (+1 hour) changed, an extra order; an order line missing, its
quantity changed, an extra line. The generator counts each entity's missing, extra and
changed rows as it makes them.

The DuckDB verification (`DUCKDB_VERIFY` below) is what a careful engineer would write:
each side's entity rebuilt with the same joins and normalised with DuckDB's nearest
built-ins (`lower(trim())`, `timezone(strptime())`, `CAST AS BOOLEAN`, `from_json` with
the JSON's shape spelt out, `round(x, 2)` as a decimal, `CASE`, `NULLIF`) into a table,
then per entity: the row counts, a `bit_xor(hash())` digest per partition (orders by
year), per-column statistics (count, distinct count, min, max, sum), and a full outer
join on the key with `IS DISTINCT FROM` on every column whose rows are written to
Parquet and counted.
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
VENV_PY = sys.executable
SCHEMA = "snapdiff_migration"

SPEC = """\
# The migration benchmark's spec (written by benches/migration.py).
[snapshots]
root = "snapshots"

[sources.legacy]
url = "sqlite://legacy.db"

[sources.target]
url = "{pg}"

[[extract]]
side = "target"
table = "{schema}.accounts"
[[extract]]
side = "target"
table = "{schema}.profiles"
[[extract]]
side = "target"
table = "{schema}.orders"
[[extract]]
side = "target"
table = "{schema}.order_lines"

[[entity]]
name = "customer"
key = "id"
legacy = "SELECT id, email, name AS display_name, created_at, is_vip, prefs, balance FROM legacy.customers"
target = \"\"\"
SELECT a.legacy_id AS id, a.email, p.display_name, a.created_at, a.is_vip, p.prefs, p.balance
FROM target.accounts a JOIN target.profiles p ON p.account_id = a.id
\"\"\"
[entity.normalize]
email = ["trim", "lower"]
created_at = {{ legacy = {{ parse = "%Y-%m-%d %H:%M:%S", timezone = "Europe/Berlin" }} }}
is_vip = {{ legacy = ["bool"] }}
prefs = ["json"]
balance = {{ round = 2 }}

[[entity]]
name = "order"
key = "id"
partition_by = "date_part('year', placed_at)"
legacy = "SELECT id, customer_id, status, placed_at, total, note, shipping FROM legacy.orders"
target = \"\"\"
SELECT o.legacy_id AS id, a.legacy_id AS customer_id, o.status, o.placed_at, o.total, o.note, o.shipping
FROM target.orders o JOIN target.accounts a ON a.id = o.account_id
\"\"\"
[entity.normalize]
status = {{ legacy = {{ map = {{ N = "new", P = "paid", S = "shipped", C = "cancelled" }} }} }}
placed_at = {{ legacy = {{ parse = "%Y-%m-%d %H:%M:%S", timezone = "Europe/Berlin" }} }}
total = {{ round = 2 }}
note = ["empty_as_null"]
shipping = ["json"]

[[entity]]
name = "order_line"
key = ["order_id", "line_no"]
legacy = "SELECT order_id, line_no, sku, qty, price FROM legacy.order_lines"
target = \"\"\"
SELECT o.legacy_id AS order_id, l.line_no, l.sku, l.qty, l.unit_price AS price
FROM target.order_lines l JOIN target.orders o ON o.id = l.order_id
\"\"\"
[entity.normalize]
sku = ["trim", "lower"]
price = {{ round = 2 }}
"""

ENTITIES = ["customer", "order", "order_line"]


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def generate(con, orders, rate, seed):
    """The legacy and target tables in DuckDB, and the expected counts per entity."""
    nc = max(orders // 10, 10)
    d = round(rate * 1_000_000)
    lo, hi = f"{d}", f"{2 * d}"  # bands of u: [0,d) missing, [d,2d) changed, [2d,3d) extra
    ex = f"{3 * d}"
    con.execute("SET TimeZone = 'UTC'")
    # A UUID from a name: 32 hex digits, which PostgreSQL reads as a uuid.
    con.execute("CREATE MACRO uid(s) AS md5(s)")
    # Wall-clock times between 06:00:00 and 22:59:59 (never in a clock change's hour).
    con.execute("""CREATE MACRO local_time(h) AS TIMESTAMP '2016-01-01 06:00:00'
        + to_days(CAST(h % 3200 AS INTEGER)) + to_seconds(CAST((h >> 12) % 57600 AS BIGINT))""")
    con.execute(f"""CREATE TABLE c AS SELECT id, h, CAST(hash(id, {seed}, 'u') % 1000000 AS BIGINT) AS u
        FROM (SELECT i AS id, CAST(hash(i, {seed}) >> 1 AS BIGINT) AS h FROM range(1, {nc} + 1) t(i))""")
    con.execute(f"""CREATE TABLE o AS SELECT id, h, CAST(hash(id, {seed}, 'u') % 1000000 AS BIGINT) AS u,
        1 + h % {nc} AS customer_id FROM (SELECT i AS id, CAST(hash(i, {seed}, 'o') >> 1 AS BIGINT) AS h FROM range(1, {orders} + 1) t(i))""")
    con.execute(f"""CREATE TABLE l AS SELECT order_id, line_no, lh AS h, ou,
        CAST(hash(order_id, line_no, {seed}, 'u') % 1000000 AS BIGINT) AS u FROM (
          SELECT o.id AS order_id, r.line_no, CAST(hash(o.id, r.line_no, {seed}) >> 1 AS BIGINT) AS lh, o.u AS ou
          FROM o, range(1, 5) r(line_no) WHERE r.line_no <= 1 + (o.h >> 50) % 4)""")

    # ---- legacy ----
    con.execute("""CREATE TABLE legacy_customers AS SELECT id,
        CASE WHEN h % 5 = 0 THEN 'User' || id || '@Example.COM'
             WHEN h % 7 = 0 THEN '  user' || id || '@example.com ' ELSE 'user' || id || '@example.com' END AS email,
        'Customer ' || id AS name,
        strftime(local_time(h), '%Y-%m-%d %H:%M:%S') AS created_at,
        CASE WHEN (h >> 8) % 10 = 0 THEN 1 ELSE 0 END AS is_vip,
        CASE (h >> 16) % 3
          WHEN 0 THEN '{"theme": "' || theme || '", "lang": "' || lang || '", "news": ' || news || '}'
          WHEN 1 THEN '{"news":' || news || ',"theme":"' || theme || '","lang":"' || lang || '"}'
          ELSE '{ "lang" : "' || lang || '" , "news" : ' || news || ' , "theme" : "' || theme || '" }' END AS prefs,
        CAST(a AS DOUBLE) / 100 + CAST(b AS DOUBLE) / 100 AS balance
        FROM (SELECT *, CASE WHEN (h >> 18) % 2 = 0 THEN 'dark' ELSE 'light' END AS theme,
                        ['de', 'en', 'fr', 'pl'][1 + (h >> 20) % 4] AS lang,
                        CASE WHEN (h >> 23) % 2 = 0 THEN 'true' ELSE 'false' END AS news,
                        (h >> 24) % 100000 AS a, (h >> 40) % 1000 AS b FROM c)""")
    con.execute("""CREATE TABLE legacy_orders AS SELECT id, customer_id,
        ['N', 'P', 'S', 'C'][1 + (h >> 8) % 4] AS status,
        strftime(local_time(h >> 10), '%Y-%m-%d %H:%M:%S') AS placed_at,
        CAST(cents - 7 AS DOUBLE) / 100 + 0.07 AS total,
        CASE WHEN (h >> 44) % 10 < 7 THEN '' ELSE 'leave at door ' || id END AS note,
        '{"express": ' || CASE WHEN (h >> 30) % 5 = 0 THEN 'true' ELSE 'false' END
          || ', "address": {"zip": "' || lpad(CAST((h >> 32) % 99999 AS VARCHAR), 5, '0')
          || '", "city": "' || ['Berlin', 'Hamburg', 'Köln', 'München'][1 + (h >> 36) % 4] || '"}}' AS shipping
        FROM (SELECT *, (h >> 24) % 500000 + 100 AS cents FROM o)""")
    con.execute("""CREATE TABLE legacy_order_lines AS SELECT order_id, line_no,
        CASE WHEN (h >> 13) % 9 = 0 THEN 'SKU-' || h % 5000 || ' ' ELSE 'SKU-' || h % 5000 END AS sku,
        CAST(1 + (h >> 20) % 9 AS INTEGER) AS qty,
        CAST((h >> 24) % 20000 + 50 - 3 AS DOUBLE) / 100 + 0.03 AS price FROM l""")

    # ---- target ----
    con.execute(f"""CREATE TABLE target_accounts AS
        SELECT uid('a' || id) AS id, id AS legacy_id,
          CASE WHEN u >= {lo} AND u < {hi} THEN 'changed.' ELSE '' END || 'user' || id || '@example.com' AS email,
          strftime(local_time(h), '%Y-%m-%d %H:%M:%S') AS created_at,
          (h >> 8) % 10 = 0 AS is_vip FROM c
        UNION ALL
        SELECT uid('a' || ({nc} + id)), {nc} + id, 'new' || id || '@example.com',
          strftime(local_time(h), '%Y-%m-%d %H:%M:%S'), false FROM c WHERE u >= {hi} AND u < {ex}""")
    con.execute(f"""CREATE TABLE target_profiles AS
        SELECT uid('a' || id) AS account_id, 'Customer ' || id AS display_name,
          '{{"lang": "' || lang || '", "news": ' || news || ', "theme": "' || theme || '"}}' AS prefs,
          printf('%d.%02d', (a + b) // 100, (a + b) % 100) AS balance
        FROM (SELECT *, CASE WHEN (h >> 18) % 2 = 0 THEN 'dark' ELSE 'light' END AS theme,
                        ['de', 'en', 'fr', 'pl'][1 + (h >> 20) % 4] AS lang,
                        CASE WHEN (h >> 23) % 2 = 0 THEN 'true' ELSE 'false' END AS news,
                        (h >> 24) % 100000 AS a, (h >> 40) % 1000 AS b FROM c)
        WHERE u >= {lo}
        UNION ALL
        SELECT uid('a' || ({nc} + id)), 'New ' || id, '{{}}', '0.00' FROM c WHERE u >= {hi} AND u < {ex}""")
    statuses = "['new', 'paid', 'shipped', 'cancelled']"
    con.execute(f"""CREATE TABLE target_orders AS
        SELECT uid('o' || id) AS id, id AS legacy_id, uid('a' || customer_id) AS account_id,
          {statuses}[1 + ((h >> 8) + CASE WHEN changed AND kind = 1 THEN 1 ELSE 0 END) % 4] AS status,
          strftime(local_time(h >> 10) + CASE WHEN changed AND kind = 2 THEN INTERVAL 1 HOUR ELSE INTERVAL 0 HOUR END,
                   '%Y-%m-%d %H:%M:%S') AS placed_at,
          printf('%d.%02d', c2 // 100, c2 % 100) AS total,
          CASE WHEN (h >> 44) % 10 < 7 THEN NULL ELSE 'leave at door ' || id END AS note,
          '{{"address": {{"city": "' || ['Berlin', 'Hamburg', 'Köln', 'München'][1 + (h >> 36) % 4]
            || '", "zip": "' || lpad(CAST((h >> 32) % 99999 AS VARCHAR), 5, '0') || '"}}, "express": '
            || CASE WHEN (h >> 30) % 5 = 0 THEN 'true' ELSE 'false' END || '}}' AS shipping
        FROM (SELECT *, u >= {lo} AND u < {hi} AS changed, (h >> 3) % 3 AS kind,
                     (h >> 24) % 500000 + 100 + CASE WHEN u >= {lo} AND u < {hi} AND (h >> 3) % 3 = 0 THEN 1 ELSE 0 END AS c2
              FROM o WHERE u >= {lo})
        UNION ALL
        SELECT uid('o' || ({orders} + id)), {orders} + id, uid('a' || customer_id), 'new',
          '2020-06-01 12:00:00', '1.00', NULL, '{{}}' FROM o WHERE u >= {hi} AND u < {ex}""")
    con.execute(f"""CREATE TABLE target_order_lines AS
        SELECT uid('o' || order_id) AS order_id, line_no, 'sku-' || h % 5000 AS sku,
          CAST(1 + (h >> 20) % 9 + CASE WHEN u >= {lo} AND u < {hi} THEN 1 ELSE 0 END AS INTEGER) AS qty,
          printf('%d.%02d', p // 100, p % 100) AS unit_price
        FROM (SELECT *, (h >> 24) % 20000 + 50 AS p FROM l) WHERE ou >= {lo} AND u >= {lo}
        UNION ALL
        SELECT uid('o' || order_id), line_no + 10, 'sku-extra', 1, '1.00' FROM l
        WHERE ou >= {lo} AND u >= {hi} AND u < {ex}""")

    def one(sql):
        return con.execute(sql).fetchone()[0]

    band = lambda t, a, b, extra="": one(f"SELECT count(*) FROM {t} WHERE u >= {a} AND u < {b} {extra}")
    expected = {
        "customer": {"missing": band("c", 0, lo), "changed": band("c", lo, hi), "extra": band("c", hi, ex)},
        "order": {"missing": band("o", 0, lo), "changed": band("o", lo, hi), "extra": band("o", hi, ex)},
        "order_line": {
            "missing": one(f"SELECT count(*) FROM l WHERE ou < {lo} OR u < {lo}"),
            "changed": band("l", lo, hi, f"AND ou >= {lo}"),
            "extra": band("l", hi, ex, f"AND ou >= {lo}"),
        },
    }
    rows = {t: one(f"SELECT count(*) FROM {t}") for t in ("c", "o", "l")}
    return expected, rows


SQLITE_DDL = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, created_at TEXT NOT NULL,
  is_vip INTEGER NOT NULL, prefs TEXT, balance REAL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL,
  placed_at TEXT NOT NULL, total REAL NOT NULL, note TEXT NOT NULL, shipping TEXT);
CREATE TABLE order_lines (order_id INTEGER NOT NULL, line_no INTEGER NOT NULL, sku TEXT NOT NULL,
  qty INTEGER NOT NULL, price REAL NOT NULL, PRIMARY KEY (order_id, line_no));
"""

PG_DDL = f"""
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
SET search_path = {SCHEMA};
CREATE TABLE accounts (id uuid PRIMARY KEY, legacy_id bigint NOT NULL UNIQUE, email text NOT NULL,
  created_at timestamptz NOT NULL, is_vip boolean NOT NULL);
CREATE TABLE profiles (account_id uuid PRIMARY KEY, display_name text, prefs jsonb, balance numeric(12,2));
CREATE TABLE orders (id uuid PRIMARY KEY, legacy_id bigint NOT NULL UNIQUE, account_id uuid NOT NULL,
  status text NOT NULL, placed_at timestamptz NOT NULL, total numeric(12,2) NOT NULL, note text, shipping jsonb);
CREATE TABLE order_lines (order_id uuid NOT NULL, line_no integer NOT NULL, sku text NOT NULL,
  qty integer NOT NULL, unit_price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, line_no));
"""


def load(con, work, pg):
    """Write the legacy tables into work/legacy.db and the target's into PostgreSQL."""
    csv = work / ".csv"
    shutil.rmtree(csv, ignore_errors=True)
    csv.mkdir()
    db = work / "legacy.db"
    db.unlink(missing_ok=True)
    sh(f"sqlite3 {db}", input=SQLITE_DDL, text=True)
    for t in ("customers", "orders", "order_lines"):
        f = csv / f"legacy_{t}.csv"
        con.execute(f"COPY legacy_{t} TO '{f}' (HEADER false)")
        sh(f"sqlite3 {db}", input=f".mode csv\n.import {f} {t}\n", text=True)
    sh(f"psql -q -v ON_ERROR_STOP=1 {pg}", input=PG_DDL, text=True)
    for t in ("accounts", "profiles", "orders", "order_lines"):
        f = csv / f"target_{t}.csv"
        con.execute(f"COPY target_{t} TO '{f}' (HEADER true)")
        # Local times are read in Berlin's zone, as the migration code did.
        sh(f"PGTZ=Europe/Berlin psql -q -v ON_ERROR_STOP=1 {pg} "
           f"-c \"COPY {SCHEMA}.{t} FROM STDIN (FORMAT csv, HEADER true)\" < {f}")
    sh(f"psql -q {pg} -c 'ANALYZE {SCHEMA}.accounts, {SCHEMA}.profiles, {SCHEMA}.orders, {SCHEMA}.order_lines'")
    shutil.rmtree(csv)


def prepare(args):
    """The work folder with both snapshots and expected.json, made when missing."""
    work = Path(args.data) / f"migration-o{args.orders}-r{args.rate}-s{args.seed}"
    ready = work / "expected.json"
    if ready.is_file():
        return work, json.loads(ready.read_text())
    import duckdb

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t = time.time()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    expected, rows = generate(con, args.orders, args.rate, args.seed)
    print(f"generated {rows['c']:,} customers, {rows['o']:,} orders, {rows['l']:,} order lines "
          f"in {time.time() - t:.1f}s; expected {expected}", flush=True)
    t = time.time()
    load(con, work, args.pg)
    con.close()
    print(f"loaded SQLite and PostgreSQL in {time.time() - t:.1f}s", flush=True)
    (work / "verify.toml").write_text(SPEC.format(pg=args.pg, schema=SCHEMA))
    t = time.time()
    sh(f"{args.snapdiff} extract {work / 'verify.toml'} --quiet")
    print(f"snapshotted both sides in {time.time() - t:.1f}s", flush=True)
    ready.write_text(json.dumps({"expected": expected, "rows": rows}))
    return work, {"expected": expected, "rows": rows}


DUCKDB_VERIFY = r"""
import duckdb, sys, json
legacy, target, out = sys.argv[1:4]
con = duckdb.connect()
con.execute(f"SET temp_directory = '{out}/.tmp'")
con.execute("SET enable_progress_bar = false")
L = lambda t: f"read_parquet('{legacy}/{t}/*.parquet')"
T = lambda t: f"read_parquet('{target}/{t}/*.parquet')"
TS = "'%Y-%m-%d %H:%M:%S'"
PREFS = "'{\"lang\": \"VARCHAR\", \"news\": \"BOOLEAN\", \"theme\": \"VARCHAR\"}'"
SHIP = "'{\"address\": {\"city\": \"VARCHAR\", \"zip\": \"VARCHAR\"}, \"express\": \"BOOLEAN\"}'"
entities = {
  "customer": (["id"], None,
    f'''SELECT id, lower(trim(email)) AS email, name AS display_name,
          timezone('Europe/Berlin', strptime(created_at, {TS})) AS created_at, CAST(is_vip AS BOOLEAN) AS is_vip,
          from_json(prefs, {PREFS}) AS prefs, CAST(round(balance, 2) AS DECIMAL(18, 2)) AS balance
        FROM {L('customers')}''',
    f'''SELECT a.legacy_id AS id, lower(trim(a.email)) AS email, p.display_name, a.created_at, a.is_vip,
          from_json(p.prefs, {PREFS}) AS prefs, CAST(p.balance AS DECIMAL(18, 2)) AS balance
        FROM {T('accounts')} a JOIN {T('profiles')} p ON p.account_id = a.id'''),
  "order": (["id"], "date_part('year', placed_at)",
    f'''SELECT id, customer_id,
          CASE status WHEN 'N' THEN 'new' WHEN 'P' THEN 'paid' WHEN 'S' THEN 'shipped'
                      WHEN 'C' THEN 'cancelled' ELSE status END AS status,
          timezone('Europe/Berlin', strptime(placed_at, {TS})) AS placed_at,
          CAST(round(total, 2) AS DECIMAL(18, 2)) AS total, NULLIF(note, '') AS note,
          from_json(shipping, {SHIP}) AS shipping
        FROM {L('orders')}''',
    f'''SELECT o.legacy_id AS id, a.legacy_id AS customer_id, o.status, o.placed_at,
          CAST(o.total AS DECIMAL(18, 2)) AS total, NULLIF(o.note, '') AS note, from_json(o.shipping, {SHIP}) AS shipping
        FROM {T('orders')} o JOIN {T('accounts')} a ON a.id = o.account_id'''),
  "order_line": (["order_id", "line_no"], None,
    f'''SELECT order_id, line_no, lower(trim(sku)) AS sku, qty, CAST(round(price, 2) AS DECIMAL(18, 2)) AS price
        FROM {L('order_lines')}''',
    f'''SELECT o.legacy_id AS order_id, l.line_no, lower(trim(l.sku)) AS sku, l.qty,
          CAST(l.unit_price AS DECIMAL(18, 2)) AS price
        FROM {T('order_lines')} l JOIN {T('orders')} o ON o.id = l.order_id'''),
}
result = {}
for name, (key, part, lsql, tsql) in entities.items():
    con.execute(f"CREATE OR REPLACE TEMP TABLE l AS {lsql}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE t AS {tsql}")
    cols = [r[0] for r in con.execute("DESCRIBE l").fetchall()]
    other = [c for c in cols if c not in key]
    # count
    counts = [con.execute(f"SELECT count(*) FROM {s}").fetchone()[0] for s in ("l", "t")]
    # hash: a digest per partition
    p = part or "0"
    digests = [dict(con.execute(f"SELECT {p} AS part, bit_xor(hash({', '.join(cols)})) FROM {s} GROUP BY part").fetchall())
               for s in ("l", "t")]
    # aggregate: per column count, distinct count, min, max (and sum of numbers)
    stats = []
    for s in ("l", "t"):
        exprs = []
        for c in other:
            exprs += [f"count({c})", f"count(DISTINCT {c})", f"CAST(min({c}) AS VARCHAR)", f"CAST(max({c}) AS VARCHAR)"]
            if c in ("balance", "total", "price", "qty", "customer_id"):
                exprs.append(f"CAST(sum({c}) AS VARCHAR)")
        stats.append(con.execute(f"SELECT {', '.join(exprs)} FROM {s}").fetchone())
    # diff: every differing row to Parquet, then counted
    on = " AND ".join(f"l.{k} = t.{k}" for k in key)
    distinct = " OR ".join(f"l.{c} IS DISTINCT FROM t.{c}" for c in other)
    sel = ", ".join([f"l.{c} AS l_{c}" for c in cols] + [f"t.{c} AS t_{c}" for c in cols])
    path = f"{out}/{name}.parquet"
    con.execute(f'''COPY (SELECT {sel} FROM l FULL OUTER JOIN t ON {on}
                          WHERE l.{key[0]} IS NULL OR t.{key[0]} IS NULL OR {distinct})
                    TO '{path}' (FORMAT parquet)''')
    k = key[0]
    r = con.execute(f'''SELECT count(*) FILTER (WHERE t_{k} IS NULL), count(*) FILTER (WHERE l_{k} IS NULL),
                               count(*) FILTER (WHERE l_{k} IS NOT NULL AND t_{k} IS NOT NULL)
                        FROM '{path}' ''').fetchone()
    result[name] = {"missing": r[0], "extra": r[1], "changed": r[2], "legacy_rows": counts[0],
                    "target_rows": counts[1], "equal_partitions": sum(digests[0].get(x) == y for x, y in digests[1].items()),
                    "aggregate_equal": stats[0] == stats[1]}
print(json.dumps(result))
"""

def warm(root):
    for f in sorted(Path(root).rglob("*.parquet")):
        with open(f, "rb") as fh:
            while fh.read(1 << 23):
                pass


def run_dir(work, side):
    runs = sorted(p for p in (work / "snapshots" / side).iterdir() if (p / "manifest.json").is_file())
    return runs[-1]


def snapdiff_counts(reports):
    rep = json.loads(next(reports.glob("*/report.json")).read_text())
    got = {}
    for e in rep["entities"]:
        d = e.get("diff") or {}
        got[e["name"]] = {k: d.get(k, 0) for k in ("missing", "extra", "changed")}
        got[e["name"]]["status"] = e["status"]
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=2_000_000, help="orders in the legacy shop (default 2,000,000)")
    ap.add_argument("--rate", type=float, default=0.001, help="share of rows missing, changed and extra, each")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--tools", default="snapdiff,duckdb")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--snapdiff", required=True)
    ap.add_argument("--baseline", help="another snapdiff binary (an earlier commit's), run as tool `baseline`")
    ap.add_argument("--data", default=str(HERE / "data"))
    args = ap.parse_args()

    work, ready = prepare(args)
    expected = ready["expected"]
    legacy, target = run_dir(work, "legacy"), run_dir(work, "target")
    runs = work / "runs"
    tools = args.tools.split(",")
    if args.baseline and "baseline" not in tools:
        tools.insert(1, "baseline")
    results = {t: [] for t in tools}
    for rep in range(args.repeat):
        for tool in tools:
            shutil.rmtree(runs, ignore_errors=True)
            runs.mkdir()
            if tool in ("snapdiff", "baseline"):
                binary = args.snapdiff if tool == "snapdiff" else args.baseline
                cmd = [binary, "verify", str(work / "verify.toml"), "--reports", str(runs), "--quiet"]
            else:
                cmd = [VENV_PY, "-c", DUCKDB_VERIFY, str(legacy), str(target), str(runs)]
            warm(work / "snapshots")
            r = measure(cmd)
            if tool in ("snapdiff", "baseline"):
                got = snapdiff_counts(runs)
            else:
                got = json.loads(r["out"].strip().splitlines()[-1])
            for e in ENTITIES:
                if any(got[e][k] != expected[e][k] for k in ("missing", "extra", "changed")):
                    raise SystemExit(f"{tool} disagrees on {e}: expected {expected[e]}, got {got[e]}")
            results[tool].append((r["wall"], r["rss"]))
            print(f"  {tool:9} run {rep + 1}: {r['wall']:7.2f} s {r['rss']:8.0f} MiB", flush=True)
    shutil.rmtree(runs, ignore_errors=True)
    if args.repeat == 0:
        print("data ready (--repeat 0: nothing timed)")
        return

    rows = ready["rows"]
    print(f"\nshop migration: {rows['c']:,} customers, {rows['o']:,} orders, {rows['l']:,} order lines; "
          f"expected {expected}; {args.repeat} runs, median (range)")
    print_table(results)


if __name__ == "__main__":
    main()
