#!/usr/bin/env bash
# Starts a single-node Guardian on embedded defaults, registers this repository and audits it.
# Ctrl-C stops the node gracefully. Data: $GUARDIAN_DATA_DIR or ./.guardian (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.build/release/guardian
export GUARDIAN_DATA_DIR=${GUARDIAN_DATA_DIR:-$PWD/.guardian}
export GUARDIAN_HTTP_ADDR=${GUARDIAN_HTTP_ADDR:-127.0.0.1:7780}
"$BIN" agent --allow-local-root "$PWD" &
AGENT=$!
trap 'kill -TERM $AGENT 2>/dev/null; wait $AGENT 2>/dev/null; exit 0' INT TERM
for _ in $(seq 1 100); do
    curl -sf "http://$GUARDIAN_HTTP_ADDR/livez" >/dev/null 2>&1 && break
    kill -0 $AGENT 2>/dev/null || { echo "the agent did not start" >&2; exit 2; }
    sleep 0.1
done
ID=$("$BIN" projects list --format json | python3 -c "import json,sys; print(next((p['id'] for p in json.load(sys.stdin) if p['repositoryUrl']=='$PWD'), ''))")
if [ -z "$ID" ]; then
    ID=$("$BIN" projects add "$PWD" --name guardian --format json | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
fi
"$BIN" audit --remote "$ID" || true
cat <<MSG

Guardian is running on http://$GUARDIAN_HTTP_ADDR (data in $GUARDIAN_DATA_DIR).
  dashboard: http://$GUARDIAN_HTTP_ADDR/ui/  (log in with the token in $GUARDIAN_DATA_DIR/admin.token)
  status:   $BIN status $ID
  results:  $BIN results $ID
  API:      curl -H "Authorization: Bearer \$(cat $GUARDIAN_DATA_DIR/admin.token)" http://$GUARDIAN_HTTP_ADDR/v1/projects/$ID/audit-status
  events:   curl -N -H "Authorization: Bearer \$(cat $GUARDIAN_DATA_DIR/admin.token)" http://$GUARDIAN_HTTP_ADDR/v1/events
Press Ctrl-C to stop.
MSG
wait $AGENT
