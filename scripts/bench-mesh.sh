#!/usr/bin/env bash
# The mesh's simulator and ring figures (issue 4): 1,000 simulated nodes, seeded and deterministic.
# Pure computation, no network and no mirror needed. The two 10,000-period false-positive runs take
# about 20 minutes each on 2 cores; PERIODS=2000 shortens them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/guardian
SEED=${SEED:-1}
"$BIN" bench-mesh --seed "$SEED" --parts ring,dissemination,detection,partition --trials 40
"$BIN" bench-mesh --seed "$SEED" --parts stalls --periods "${PERIODS:-10000}"
