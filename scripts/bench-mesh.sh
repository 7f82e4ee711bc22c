#!/usr/bin/env bash
# The mesh's figures (issue 4): simulator and ring (1,000 simulated nodes, seeded, deterministic),
# then 10 real agents on loopback (scripts/bench-mesh-agents.sh). No mirror needed. The two 10,000-period false-positive runs take
# about 20 minutes each on 2 cores; PERIODS=2000 shortens them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/guardian
SEED=${SEED:-1}
"$BIN" bench-mesh --seed "$SEED" --parts ring,dissemination,detection,partition --trials 40
echo
echo "== Real processes: 10 agents on loopback"
scripts/bench-mesh-agents.sh
echo
"$BIN" bench-mesh --seed "$SEED" --parts stalls --periods "${PERIODS:-10000}"
