#!/usr/bin/env python3
"""One-off `guardian audit` on swift-nio, for one or more builds interleaved in one run.

    python3 scripts/bench_oneoff.py BIN [BIN ...]

For each build: a fresh clone of the repository (BENCH_REPO, default apple/swift-nio from the
machine's package mirror); 5 cold audits (a new cache each); then 10 rounds of one commit adding a
function to one file followed by one audit with the warm cache (JSON and text reports alternate),
which is what a pre-commit hook or a CI step pays. Prints wall medians (min, max) and the cold CPU.
"""
import json, os, shutil, statistics, subprocess, sys, time

REPO = os.environ.get("BENCH_REPO", "https://github.com/apple/swift-nio.git")
TARGET = os.environ.get("BENCH_FILE", "Sources/NIOCore/AddressedEnvelope.swift")
bins = sys.argv[1:]
if not bins:
    sys.exit(__doc__)


def run(cmd):
    return subprocess.run(cmd, capture_output=True)


def work(b):
    return f"/tmp/guardian-bench-oneoff/{os.path.basename(b)}-{bins.index(b)}"


res = {b: {"cold": [], "cold_cpu": [], "json": [], "text": []} for b in bins}
for b in bins:
    d = work(b)
    shutil.rmtree(d, ignore_errors=True)
    run(["git", "clone", "-q", REPO, d + "/repo"])
    run(["git", "-C", d + "/repo", "config", "user.email", "bench@example.com"])
    run(["git", "-C", d + "/repo", "config", "user.name", "bench"])
for _ in range(5):
    for b in bins:
        d = work(b)
        shutil.rmtree(d + "/cold", ignore_errors=True)
        t, c0 = time.perf_counter(), os.times()
        run([b, "audit", d + "/repo", "--jobs", "2", "--cache-dir", d + "/cold", "--format", "json", "-o", d + "/cold.json"])
        c1 = os.times()
        res[b]["cold"].append((time.perf_counter() - t) * 1000)
        res[b]["cold_cpu"].append((c1.children_user + c1.children_system - c0.children_user - c0.children_system) * 1000)
for b in bins:
    run([b, "audit", work(b) + "/repo", "--jobs", "2", "--cache-dir", work(b) + "/warm", "-o", "/dev/null"])
for rnd in range(10):
    for b in bins:
        d = work(b)
        with open(f"{d}/repo/{TARGET}", "a") as f:
            f.write(f"\nfunc guardianBenchAdded{rnd}(_ x: Int) -> Int {{\n    if x > 1 {{ return x }}\n    return 0\n}}\n")
        run(["git", "-C", d + "/repo", "commit", "-qam", f"bench: change one file ({rnd})"])
        fmt = "json" if rnd % 2 == 0 else "text"
        t = time.perf_counter()
        run([b, "audit", d + "/repo", "--jobs", "2", "--cache-dir", d + "/warm", "--format", fmt, "-o", f"{d}/inc.{fmt}"])
        res[b][fmt].append((time.perf_counter() - t) * 1000)
        if fmt == "json":
            timing = json.load(open(f"{d}/inc.json"))["timing"]
            if timing["cacheMisses"] != 1:
                sys.exit(f"{b}: expected one file analysed after a one-file commit, got {timing}")


def f(xs):
    return f"median {statistics.median(xs):.0f} ms (min {min(xs):.0f}, max {max(xs):.0f})"


for b in bins:
    r = res[b]
    print(f"{b}: cold {f(r['cold'])} wall, CPU {f(r['cold_cpu'])}")
    print(f"{b}: after a one-file commit, warm cache: JSON report {f(r['json'])}; text report {f(r['text'])}")
