# Guardian — see README.md.
SWIFT ?= swift
RELEASE_BIN := .build/release/guardian

.PHONY: deps build release release-bench run audit test bench bench-agent bench-mesh bench-precision bench-dashboard bench-alerts bench-prs clean-cache

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product guardian

# The benchmarks' own binary: guardian-bench links the simulators and the test kit; guardian does not.
release-bench: release
	$(SWIFT) build -c release --product guardian-bench

# The main job: a single-node Guardian on embedded defaults that registers and audits this repository.
run: release
	@scripts/run-agent.sh

# Audit this repository with the release binary. Exit 1 from the gate is reported, not fatal.
audit: release
	@$(RELEASE_BIN) audit . ; rc=$$?; if [ $$rc -gt 1 ]; then exit $$rc; fi; echo "(gate exit code $$rc; see docs/checks.md and docs/scoring.md)"

# The Swift suites, then the dashboard in headless Chromium against a real three-agent mesh, then
# the operations kit (compose, Prometheus, Alertmanager, Grafana, Kubernetes, systemd; tests/ops).
test: deps
	@scripts/install-test-deps.sh
	$(SWIFT) test --disable-xctest
	python3 tests/browser/dashboard_test.py
	python3 tests/ops/ops_test.py

# Benchmarks on real repositories from the local package mirror (see docs/benchmarks.md).
bench: release-bench
	@scripts/bench.sh

bench-agent: release-bench
	@scripts/bench-agent.sh

# Precision of the findings on a labelled corpus of real code (bench/precision/, docs/precision.md).
bench-precision: release
	@python3 scripts/bench_precision.py

# The dashboard's pages over loopback: 1,000 projects and a project with 5,000 findings (docs/dashboard.md).
bench-dashboard: release-bench
	.build/release/guardian-bench dashboard

# Alerts on real agents over loopback (docs/alerts.md): event-to-delivery latency, 20 seeded fault runs
# on a 3-agent mesh, and webhook-to-stored-result with 1,000 alerts waiting on a 5 s receiver (needs the mirror).
bench-prs: release
	GUARDIAN_BIN=.build/release/guardian python3 scripts/bench_pull_requests.py

bench-alerts: release
	GUARDIAN_BIN=.build/release/guardian python3 scripts/bench_alerts.py latency
	GUARDIAN_BIN=.build/release/guardian python3 scripts/bench_alerts.py faults
	GUARDIAN_BIN=.build/release/guardian python3 scripts/bench_alerts.py backlog

# The mesh simulator (1,000 nodes) and ring figures; no network, no mirror.
bench-mesh: release-bench
	@scripts/bench-mesh.sh

clean-cache:
	rm -rf $${XDG_CACHE_HOME:-$$HOME/.cache}/guardian
