#!/usr/bin/env python3
"""A fleet on one agent (issue 24): register N real repositories from the machine's package mirror by
their GitHub URLs and time until every project has a signed result; then, in the same run, lizard
`-t 2` on checkouts of the same code, and the bare floor (`git clone --bare` of each, then
`guardian audit` of each in turn with a cold cache). Prints the time, audits per second, the agent's
RSS, disk per project, and the ratios. Needs the release binary and the mirror (not run by CI).

    GUARDIAN_BIN=.build/release/guardian python3 scripts/bench_fleet.py [--count N]
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GUARDIAN_BIN", os.path.join(ROOT, ".build", "release", "guardian"))
MIRROR = "/opt/swift-packages"


def repositories(count):
    found = sorted(glob.glob(os.path.join(MIRROR, "*", "*.git")))
    urls = ["https://github.com/" + os.path.relpath(p, MIRROR) for p in found]
    return urls[:count] if count else urls


def call(base, token, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"{}")


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def du_mb(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                pass
    return total / 1e6


def one_agent(work, urls):
    data = os.path.join(work, "agent")
    env = dict(os.environ, HOME=work, XDG_CACHE_HOME=os.path.join(work, "agent-cache"), GUARDIAN_DEFAULT_SCHEDULE_SECONDS="0")
    p = subprocess.Popen([BIN, "agent", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--no-discovery", "--log-level", "error"],
                         env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "agent.log"), "w"))
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(data, "agent.json")):
            if time.monotonic() > deadline or p.poll() is not None:
                sys.exit("the agent did not start: " + open(os.path.join(work, "agent.log")).read()[-2000:])
            time.sleep(0.05)
        base = json.load(open(os.path.join(data, "agent.json")))["httpAddr"]
        token = open(os.path.join(data, "admin.token")).read().strip()
        start = time.monotonic()
        # registration checks each remote (at most 4 at once on the node): 4 clients
        def register(u):
            name = u.rsplit("/", 2)[-2] + "-" + u.rsplit("/", 1)[-1][:-4]
            return call(base, token, "POST", "/v1/projects", {"repositoryUrl": u, "name": name})["id"]
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(register, urls))
        registered = time.monotonic() - start
        idle = 0
        while True:
            node = call(base, token, "GET", "/v1/node")
            if node["results"] >= len(ids):
                break
            # an audit that failed leaves no result: done when nothing is queued or running twice in a row
            idle = idle + 1 if node["queueDepth"] == 0 and node["runningAudits"] == 0 else 0
            if idle >= 2:
                break
            if time.monotonic() - start > 1800:
                sys.exit(f"timed out: {node['results']} of {len(ids)} results")
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        failed = len(ids) - call(base, token, "GET", "/v1/node")["results"]
        rss = rss_mb(p.pid)
        if os.environ.get("FLEET_SMAPS"):
            print(open(f"/proc/{p.pid}/smaps_rollup").read())
        time.sleep(5)
        return {"seconds": elapsed, "registered": registered, "rss": rss, "rss_idle": rss_mb(p.pid), "disk": du_mb(data) / len(ids), "failed": failed,
                "cache": du_mb(os.path.join(data, "cache"))}
    finally:
        p.terminate()
        p.wait(timeout=60)


def bare_floor(work, urls):
    bare = os.path.join(work, "bare")
    os.makedirs(bare)
    start = time.monotonic()
    paths = []
    for u in urls:
        dst = os.path.join(bare, u.rsplit("/", 2)[-2] + "-" + u.rsplit("/", 1)[-1])
        subprocess.run(["git", "clone", "-q", "--bare", u, dst], check=True)
        paths.append(dst)
    cloned = time.monotonic() - start
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "floor-cache"))
    t = time.monotonic()
    for path in paths:
        r = subprocess.run([BIN, "audit", path, "--format", "json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode > 1:
            print(f"  (guardian audit {path} exited {r.returncode})")
    return {"clone": cloned, "audit": time.monotonic() - t, "seconds": time.monotonic() - start}


def lizard_run(work, urls):
    checkouts = os.path.join(work, "checkouts")
    os.makedirs(checkouts)
    dirs = []
    for u in urls:
        dst = os.path.join(checkouts, u.rsplit("/", 2)[-2] + "-" + u.rsplit("/", 1)[-1][:-4])
        subprocess.run(["git", "clone", "-q", u, dst], check=True)
        dirs.append(dst)
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "lizard", "-t", "2", "-l", "swift", "--csv"] + dirs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=0, help="repositories (default: every one in the mirror)")
    ap.add_argument("--agent-only", action="store_true", help="skip the floor and lizard (quick experiments)")
    args = ap.parse_args()
    urls = repositories(args.count)
    work = os.path.join(ROOT, "bench-work", "fleet")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    print(f"== fleet: {len(urls)} repositories from {MIRROR}, one agent ({BIN})")
    a = one_agent(work, urls)
    print(f"  every project signed: {a['seconds']:.1f} s ({len(urls) / a['seconds']:.2f} audits/s; registration {a['registered']:.1f} s of it); "
          f"{a['failed']} failed")
    print(f"  agent RSS after the run: {a['rss']:.0f} MB, 5 s later {a['rss_idle']:.0f} MB (bar <= 200 MB); disk per project {a['disk']:.2f} MB; analysis cache {a['cache']:.0f} MB")
    if args.agent_only:
        return
    f = bare_floor(work, urls)
    print(f"== bare floor: git clone --bare {f['clone']:.1f} s + sequential guardian audit (cold cache) {f['audit']:.1f} s = {f['seconds']:.1f} s")
    liz = lizard_run(work, urls)
    print(f"== lizard -t 2 on checkouts of the same repositories: {liz:.1f} s")
    print(f"== ratios: agent / floor {a['seconds'] / f['seconds']:.2f} (bar <= 1.2); lizard / agent {liz / a['seconds']:.2f} (bar >= 3)")


if __name__ == "__main__":
    main()
