#!/usr/bin/env bash
# Compares two builds in one run, interleaved (A, B, A, B …) so that the machine's drift falls on
# both: cold audit of apple/swift-nio, audit-status p99 under paced load over 1,000 seeded projects,
# webhook to stored result, and the import of 100,000 signed results.
#   scripts/bench-compare.sh BEFORE_GUARDIAN AFTER_GUARDIAN
# BEFORE_AIRGAP / AFTER_AIRGAP: the command that runs the air-gap benchmark of each build (default:
# `guardian-bench airgap` beside each guardian; a build from before guardian-bench had
# `guardian bench-airgap`). Needs wrk (installed when missing) and the local package mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "$1"); B=$(realpath "$2")
A_AIRGAP=${BEFORE_AIRGAP:-"$(dirname "$A")/guardian-bench airgap"}
B_AIRGAP=${AFTER_AIRGAP:-"$(dirname "$B")/guardian-bench airgap"}
SEED_BENCH=${SEED_BENCH:-"$(dirname "$B")/guardian-bench"}
WORK=$PWD/bench-work/compare
rm -rf "$WORK"; mkdir -p "$WORK"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
ROUNDS=${ROUNDS:-3}
AUDITS=${AUDITS:-11}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "== cold audit of apple/swift-nio (no cache), $AUDITS runs each, interleaved"
git clone -q --bare https://github.com/apple/swift-nio.git "$WORK/swift-nio.git"
for i in $(seq 1 "$AUDITS"); do
    for side in A B; do
        bin=$([ $side = A ] && echo "$A" || echo "$B")
        s=$(date +%s.%N); "$bin" audit "$WORK/swift-nio.git" --no-cache --format json > /dev/null || true; e=$(date +%s.%N)
        echo "$e - $s" | bc >> "$WORK/audit-$side.txt"
    done
done
echo "  before: median $(median < "$WORK/audit-A.txt") s; after: median $(median < "$WORK/audit-B.txt") s"

echo "== audit-status p99, paced (5 connections, 1 ms apart, 10 s), 1,000 projects with 100 findings each"
"$SEED_BENCH" store --data-dir "$WORK/seed" --projects 1000 --findings-per-project 100 --throughput-results 100 > "$WORK/seed.txt"
echo 'function delay() return 1 end' > "$WORK/paced.lua"
PORT=17881
serve() { # side bin: starts an agent over a copy of the seeded data
    rm -rf "$WORK/data-$1"; cp -a "$WORK/seed" "$WORK/data-$1"
    "$2" agent --data-dir "$WORK/data-$1" --http-addr 127.0.0.1:$PORT --allow-local-root "$WORK" --log-level error > "$WORK/agent-$1.log" 2>&1 &
    AGENT=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/livez" >/dev/null && break; sleep 0.1; done
    TOKEN=$(cat "$WORK/data-$1/admin.token")
}
for i in $(seq 1 $ROUNDS); do
    for side in A B; do
        bin=$([ $side = A ] && echo "$A" || echo "$B")
        serve $side "$bin"; sleep 1
        wrk -t2 -c5 -d10s --latency -s "$WORK/paced.lua" -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$PORT/v1/projects/bench-0500/audit-status" > "$WORK/wrk-$side-$i.txt"
        echo "  $side round $i: $(grep 'Requests/sec' "$WORK/wrk-$side-$i.txt" | awk '{print $2}') req/s, p50 $(grep ' 50%' "$WORK/wrk-$side-$i.txt" | awk '{print $2}'), p99 $(grep ' 99%' "$WORK/wrk-$side-$i.txt" | awk '{print $2}')"
        kill $AGENT; wait $AGENT 2>/dev/null || true
    done
done

echo "== webhook for a one-file push to a signed, stored result (apple/swift-nio)"
for i in $(seq 1 $ROUNDS); do
    for side in A B; do
        bin=$([ $side = A ] && echo "$A" || echo "$B")
        serve $side "$bin"
        echo "  $side: $(python3 scripts/webhook_roundtrip.py "$PORT" "$TOKEN" "$WORK/swift-nio.git" "$WORK/nio-$side-$i")"
        kill $AGENT; wait $AGENT 2>/dev/null || true
    done
done

echo "== import of 100,000 signed results into a node that never saw the exporter"
for side in A B; do
    cmd=$([ $side = A ] && echo "$A_AIRGAP" || echo "$B_AIRGAP")
    echo "  $side: $($cmd --results 100000 | grep 'import into a node')"
done
