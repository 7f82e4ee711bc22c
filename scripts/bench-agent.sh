#!/usr/bin/env bash
# Benchmarks the agent: store throughput and verification (guardian-bench store), the audit-status
# read under load with wrk, idle memory with 1,000 projects, and a webhook-to-signed-result round trip
# on a real repository (apple/swift-nio from the local package mirror). Needs the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.build/release/guardian
BENCH=$ROOT/.build/release/guardian-bench
WORK=$ROOT/bench-work/agent
rm -rf "$WORK"; mkdir -p "$WORK"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
DATA=$WORK/data

echo "== Store: seed 1,000 projects and 100,000 findings; durable signed results; verification"
"$BENCH" store --data-dir "$DATA" --projects 1000 --findings-per-project 100 --throughput-results 2000

echo
echo "== audit-status under load (wrk, loopback, 2 threads; 4 and 16 connections flat out, then paced to the bar; 10 s each)"
PORT=17791
"$BIN" agent --data-dir "$DATA" --http-addr 127.0.0.1:$PORT --allow-local-root "$WORK" --log-level error > "$WORK/agent.log" 2>&1 &
AGENT=$!
trap 'kill $AGENT 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/livez" >/dev/null && break; sleep 0.1; done
TOKEN=$(cat "$DATA/admin.token")
sleep 2
echo "idle RSS with 1,000 projects: $(awk '/VmRSS/ {print int($2/1024) " MB"}' /proc/$AGENT/status) (bar: <= 200 MB)"
for C in 4 16; do
    wrk -t2 -c$C -d10s --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/projects/bench-0500/audit-status" > "$WORK/wrk-$C.txt"
    echo "  $C connections: $(grep 'Requests/sec' "$WORK/wrk-$C.txt" | awk '{print $2}') req/s, p50 $(grep ' 50%' "$WORK/wrk-$C.txt" | awk '{print $2}'), p99 $(grep ' 99%' "$WORK/wrk-$C.txt" | awk '{print $2}')"
done
# Near the bar's rate: wrk (not wrk2) has no fixed-rate mode, so 5 connections each wait 1 ms after
# every answer (a Lua delay; wrk's timers round up, which holds the load at about 1,700 requests/s).
# wrk runs on the same two cores as the agent: more connections measure wrk's own queueing.
echo 'function delay() return 1 end' > "$WORK/paced.lua"
wrk -t2 -c5 -d10s --latency -s "$WORK/paced.lua" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/projects/bench-0500/audit-status" > "$WORK/wrk-paced.txt"
echo "  paced (5 connections, 1 ms apart): $(grep 'Requests/sec' "$WORK/wrk-paced.txt" | awk '{print $2}') req/s, p50 $(grep ' 50%' "$WORK/wrk-paced.txt" | awk '{print $2}'), p99 $(grep ' 99%' "$WORK/wrk-paced.txt" | awk '{print $2}')"
echo "  (bar: p99 <= 5 ms at 2,000 req/s)"
echo "RSS after load: $(awk '/VmRSS/ {print int($2/1024) " MB"}' /proc/$AGENT/status)"

echo
echo "== Webhook for a one-file push to a signed, stored result (apple/swift-nio, end to end)"
echo "$(python3 scripts/webhook_roundtrip.py "$PORT" "$TOKEN" https://github.com/apple/swift-nio.git "$WORK/swift-nio") (bar: <= 1000 ms)"
