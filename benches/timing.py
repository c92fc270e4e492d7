"""What the benchmark scripts share: a tool run in a fresh helper process, timed on
the wall clock, with the process's own peak RSS (`getrusage` of the child), and the
median of several runs."""

import json
import subprocess
import sys

MEASURE = """
import sys, subprocess, time, resource, json
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = p.communicate()
wall = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
sys.stderr.write(err.decode())
print(json.dumps({"wall": wall, "rss": rss, "code": p.returncode, "out": out.decode()}))
"""


def measure(cmd, exit_codes=(0, 1)):
    """Run `cmd`: its wall time (`wall`, seconds), peak RSS (`rss`, MiB), exit code and
    standard output. An exit code outside `exit_codes` stops the benchmark, showing
    the tool's own output."""
    p = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True)
    if p.returncode != 0:
        raise SystemExit(f"measuring {cmd[0]} failed:\n{p.stderr.decode()[-3000:]}")
    r = json.loads(p.stdout)
    if r["code"] not in exit_codes:
        raise SystemExit(
            f"{' '.join(cmd[:4])}... exited {r['code']}:\n{p.stderr.decode()[-3000:]}\n{r['out'][-3000:]}"
        )
    return r


def median(xs):
    """The middle value (the upper one of an even count)."""
    xs = sorted(xs)
    return xs[len(xs) // 2]


def print_table(results):
    """A Markdown table of each tool's runs (`results`: tool -> [(seconds, MiB)]): the
    median and range of the wall time, the median peak RSS, and the ratio to DuckDB."""
    print("| tool | seconds | peak RSS (MiB) | time vs DuckDB |")
    print("|---|---:|---:|---:|")
    base = median([w for w, _ in results["duckdb"]]) if "duckdb" in results else None
    for tool, rs in results.items():
        ws, ms = [w for w, _ in rs], [m for _, m in rs]
        ratio = f"{median(ws) / base:.2f}x" if base else "-"
        print(f"| {tool} | {median(ws):.2f} ({min(ws):.2f}-{max(ws):.2f}) | {median(ms):.0f} | {ratio} |")
