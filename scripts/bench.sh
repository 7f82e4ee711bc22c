#!/usr/bin/env bash
# Benchmarks `guardian audit` on a real repository and compares with lizard in the same run.
# Uses apple/swift-nio from the machine's local package mirror (git resolves the GitHub URL to it);
# set BENCH_REPO to another URL or path to measure something else. Needs the release binary (make release).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.build/release/guardian
BENCH=$ROOT/.build/release/guardian-bench
REPO_URL=${BENCH_REPO:-https://github.com/apple/swift-nio.git}
WORK=$ROOT/bench-work
JOBS=${BENCH_JOBS:-2}
mkdir -p "$WORK"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
python3 -c "import lizard" 2>/dev/null || pip install -q lizard==1.24.3

SRC=$WORK/repo
rm -rf "$SRC" "$WORK/cache"
git clone -q "$REPO_URL" "$SRC"
git -C "$SRC" config user.email bench@example.com
git -C "$SRC" config user.name bench

ms() { python3 -c "import sys; print(f'{float(sys.argv[1])*1000:.0f}')" "$1"; }

echo "== Guardian cold audit (all eight checks, empty cache, $JOBS jobs): $REPO_URL"
/usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN" audit "$SRC" --jobs "$JOBS" --cache-dir "$WORK/cache" --format json -o "$WORK/cold.json" || true
read -r COLD_S COLD_KB < <(tail -1 "$WORK/time.txt")
LINES=$(python3 -c "import json; r=json.load(open('$WORK/cold.json')); print(r['statistics']['lines'])")
CODE=$(python3 -c "import json; r=json.load(open('$WORK/cold.json')); print(r['statistics']['codeLines'])")
FILES=$(python3 -c "import json; r=json.load(open('$WORK/cold.json')); print(r['statistics']['analyzedFiles'])")
FUNCS=$(python3 -c "import json; r=json.load(open('$WORK/cold.json')); print(r['statistics']['functions'])")
echo "files analysed:   $FILES"
echo "lines audited:    $LINES ($CODE code lines, $FUNCS functions)"
echo "seconds (cold):   $COLD_S"
python3 -c "print(f'lines/s:          {int($LINES/max($COLD_S,0.001)):,}')"
echo "peak memory:      $((COLD_KB / 1024)) MB"

echo
echo "== lizard 1.24.3 (complexity only), same tree, 2 threads"
/usr/bin/time -f "%e %M" -o "$WORK/ltime.txt" lizard -t 2 -l swift --csv "$SRC" > "$WORK/lizard.csv" 2>/dev/null || true
read -r LIZ_S LIZ_KB < <(tail -1 "$WORK/ltime.txt")
echo "seconds:          $LIZ_S"
python3 -c "print(f'ratio lizard/guardian: {$LIZ_S/max($COLD_S,0.001):.1f}x (guardian runs all eight checks)')"

echo
echo "== Incremental audit after a one-file change (warm cache)"
"$BIN" audit "$SRC" --jobs "$JOBS" --cache-dir "$WORK/cache" >/dev/null || true   # warm the cache for HEAD
TARGET=$(cd "$SRC" && git ls-files '*.swift' | awk '/^Sources\// && !f { print; f = 1 }')
# Five rounds: each commits one more function to the same file, then audits once (text and JSON
# reports alternate); the wall time of that first audit after the commit is what a hook pays.
for round in 1 2 3 4 5; do
  printf '\nfunc guardianBenchAdded%s(_ x: Int) -> Int {\n    if x > 1 { return x }\n    return 0\n}\n' "$round" >> "$SRC/$TARGET"
  git -C "$SRC" commit -qam "bench: change one file ($round)"
  FORMAT=$([ $((round % 2)) = 1 ] && echo json || echo text)
  python3 - "$BIN" "$SRC" "$JOBS" "$WORK/cache" "$FORMAT" "$WORK/inc.$FORMAT" <<'PY'
import json, subprocess, sys, time
binary, src, jobs, cache, fmt, out = sys.argv[1:]
t = time.perf_counter()
subprocess.run([binary, "audit", src, "--jobs", jobs, "--cache-dir", cache, "--format", fmt, "-o", out])
wall = (time.perf_counter() - t) * 1000
if fmt == "json":
    timing = json.load(open(out))["timing"]
    extra = f"re-analysed {timing['cacheMisses']} (cache hits {timing['cacheHits']}), {timing['totalMs']:.0f} ms in process"
else:
    extra = "text report"
print(f"one-file commit, audit wall time: {wall:.0f} ms ({extra})")
PY
done
"$BENCH" incremental "$SRC" --base HEAD~1 --head HEAD --jobs "$JOBS"

echo
echo "== Cyclomatic complexity agreement with lizard (per function, matched by file and start line)"
"$BIN" functions "$SRC" > "$WORK/guardian-functions.csv"
python3 scripts/lizard_agreement.py "$WORK/guardian-functions.csv" "$WORK/lizard.csv" "$SRC"
