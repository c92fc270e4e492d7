#!/usr/bin/env bash
# Build every fuzz target and run each in turn for a fixed time; print a results table
# and append it to fuzz/RESULTS.md. Not part of `cargo test` or CI.
#
#   fuzz/run.sh [BUDGET_SECONDS_PER_TARGET] [TARGET...]      # default 120 s, all targets
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler (libfuzzer-sys
# builds libFuzzer). Works on the stable toolchain: see fuzz/README.md.
#
# Environment:
#   CARGO_TARGET_DIR      where the instrumented build goes
#                         (default ~/.cache/snapdiff-fuzz-target, kept apart from the main build)
#   SNAPDIFF_FUZZ_LOCK    a lock file: when set, the build and each target's run hold it
#                         (`flock`), so that they never share the cores with other builds
#   SNAPDIFF_FUZZ_NO_BUILD=1   use the targets already built
#   SNAPDIFF_FUZZ_RSS_MB  libFuzzer's -rss_limit_mb (default 2048)
#   SNAPDIFF_FUZZ_SANITIZER   none (default) or address: ASan, built in CARGO_TARGET_DIR-address
#
# A target stops at its first crash (panic, failed property, timeout of 10 s for one input,
# or RSS over the limit); the input is saved under fuzz/artifacts/TARGET/ and the script
# exits 1. Reproduce with `$CARGO_TARGET_DIR/<host>/release/TARGET fuzz/artifacts/TARGET/crash-...`.
set -uo pipefail

budget=${1:-120}
shift || true
if ! [[ $budget =~ ^[0-9]+$ ]] || [ "$budget" -lt 1 ]; then
    echo "usage: $0 [BUDGET_SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

all_targets=(spec rules timestamp local_to_utc json numeric boolean manifest)
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/snapdiff-fuzz-target}
# With `-s none` cargo-fuzz passes only stable flags (-C passes=sancov-module, -C llvm-args,
# --cfg fuzzing): no nightly needed. A sanitizer is `-Zsanitizer=...`, which stable rustc
# accepts only with RUSTC_BOOTSTRAP=1 (see README.md).
sanitizer=${SNAPDIFF_FUZZ_SANITIZER:-none}
if [ "$sanitizer" != none ]; then
    export RUSTC_BOOTSTRAP=1
    export CARGO_TARGET_DIR=$CARGO_TARGET_DIR-$sanitizer
fi
rss_mb=${SNAPDIFF_FUZZ_RSS_MB:-2048}

lock=()
if [ -n "${SNAPDIFF_FUZZ_LOCK:-}" ]; then
    lock=(flock "$SNAPDIFF_FUZZ_LOCK")
fi

triple=$(rustc -vV | sed -n 's/^host: //p')
bin=$CARGO_TARGET_DIR/$triple/release

if [ "${SNAPDIFF_FUZZ_NO_BUILD:-0}" != 1 ]; then
    # -s none by default: no sanitizer (safe Rust needs it little, and it keeps the build
    # on stable flags). --debug-assertions: debug assertions and overflow checks, so that an arithmetic
    # overflow is a crash, not a wrong number.
    echo "== building (target dir $CARGO_TARGET_DIR)"
    # One target named: build it alone; otherwise one cargo invocation builds them all.
    one=()
    [ ${#targets[@]} -eq 1 ] && one=("${targets[0]}")
    "${lock[@]}" cargo fuzz build -s "$sanitizer" --debug-assertions "${one[@]}" || exit 2
fi

# Per target: the longest input tried, and its dictionary if it has one.
max_len() {
    case $1 in
        spec | manifest) echo 16384 ;;
        rules) echo 4096 ;;
        local_to_utc | boolean) echo 256 ;;
        *) echo 1024 ;;
    esac
}

mkdir -p logs
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
rev=$(git -C .. rev-parse --short HEAD 2>/dev/null || echo "?")
if [ -n "$(git -C .. status --porcelain -- src 2>/dev/null)" ]; then rev="$rev+dirty"; fi
table="| target | runs | exec/s | corpus | coverage | crashes | seconds | peak RSS MB |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
crashed=()

for t in "${targets[@]}"; do
    if [ ! -x "$bin/$t" ]; then
        echo "no built target $bin/$t" >&2
        exit 2
    fi
    mkdir -p "corpus/$t" "artifacts/$t"
    args=(
        "corpus/$t"
        -max_total_time="$budget"
        -rss_limit_mb="$rss_mb"
        -malloc_limit_mb="$rss_mb"
        -timeout=10
        -max_len="$(max_len "$t")"
        -artifact_prefix="artifacts/$t/"
        -print_final_stats=1
    )
    [ -d "seeds/$t" ] && args+=("seeds/$t")
    [ -f "dicts/$t.dict" ] && args+=(-dict="dicts/$t.dict")
    marker=$(mktemp)
    echo "== $t: ${budget}s"
    start=$(date +%s)
    "${lock[@]}" "$bin/$t" "${args[@]}" >"logs/$t.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "logs/$t.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1 | cut -d' ' -f2)
    if [ -z "$runs" ]; then
        # A crash ends the run before the final stats: take the last status line.
        runs=$(grep -o '^#[0-9]*' "logs/$t.log" | tail -1 | tr -d '#')
    fi
    found=$(find "artifacts/$t" -type f -newer "$marker" | wc -l)
    rm -f "$marker"
    if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then
        found="? (exit $rc)"
    fi
    [ "$found" != 0 ] && crashed+=("$t")
    corpus=$(find "corpus/$t" -type f | wc -l)
    runs=${runs:-0}
    per=$((runs / (secs > 0 ? secs : 1)))
    table+="
| $t | $runs | $per | $corpus | ${cov:-?} | $found | $secs | ${rss:-?} |"
    echo "   runs $runs, corpus $corpus, crashes $found (log: fuzz/logs/$t.log)"
done

summary="
## $stamp, snapdiff $rev, ${budget}s per target

$(rustc -V), cargo-fuzz $(cargo fuzz --version 2>/dev/null | awk '{print $2}'), sanitizer: $sanitizer, debug assertions on; \
corpus = inputs kept in fuzz/corpus/TARGET after the run (seeds not counted); coverage = libFuzzer's \`cov:\` (edges).

$table
"
echo "$summary"
if [ ! -f RESULTS.md ]; then
    printf '# Fuzzing results\n\nAppended by `fuzz/run.sh`; newest last.\n' >RESULTS.md
fi
echo "$summary" >>RESULTS.md

if [ ${#crashed[@]} -gt 0 ]; then
    echo "crashes in: ${crashed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
