#!/usr/bin/env bash
# The mesh's figures (issue 4): simulator and ring (1,000 simulated nodes, seeded, deterministic),
# then 10 real agents on loopback (scripts/bench-mesh-agents.sh). No mirror needed. The two 10,000-period false-positive runs
# (Lifeguard on and off, in parallel on two cores) take about 110 minutes; PERIODS=1000 takes about 11.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=.build/release/guardian-bench
SEED=${SEED:-1}
"$BENCH" mesh --seed "$SEED" --parts ring,dissemination,detection,partition --trials 40
echo
echo "== Real processes: 10 agents on loopback"
scripts/bench-mesh-agents.sh
echo
mkdir -p bench-work
for LG in on off; do
    "$BENCH" mesh --seed "$SEED" --parts stalls --periods "${PERIODS:-10000}" --lifeguard $LG > "bench-work/stalls-$LG.txt" &
done
wait
cat bench-work/stalls-on.txt bench-work/stalls-off.txt
