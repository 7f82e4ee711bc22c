#!/usr/bin/env python3
"""A fleet of real repositories (issue 24). Registers N real repositories from the machine's package
mirror by their GitHub URLs and times until every project has a signed result:

1. on one agent; then 1,000 webhook pushes (one-file commits) spread over 100 of the projects, at a
   fixed offered rate, timed from each push to its stored, signed result (the steady state);
2. on a 3-agent mesh on this machine, until every owner holds every result;
3. the bare floor: `git clone --bare` of each, then `guardian audit` of each in turn (cold cache);
4. lizard `-t 2` on checkouts of the same code.

Prints times, audits per second, where the audits' time went (`guardian_audit_phase_seconds`), RSS
per agent, disk per project, and the ratios against the issue's bars. Needs the release binary
and the mirror (not run by CI).

    GUARDIAN_BIN=.build/release/guardian python3 scripts/bench_fleet.py [--count N] [--only fleet,steady,mesh,floor,lizard]

The GitHub URLs resolve to the mirror through git's `url.insteadOf` (/etc/gitconfig). Pushes need
repositories this benchmark may write to: for the steady state the agent is restarted with a HOME
whose .gitconfig has a longer, per repository `insteadOf` that sends the pushed projects' URLs to
writable bare copies (hard links of the mirror's packs).
"""
import argparse
import glob
import hashlib
import hmac
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GUARDIAN_BIN", os.path.join(ROOT, ".build", "release", "guardian"))
MIRROR = "/opt/swift-packages"
SECRET = "fleet-bench-secret"


def repositories(count):
    found = sorted(glob.glob(os.path.join(MIRROR, "*", "*.git")))
    urls = ["https://github.com/" + os.path.relpath(p, MIRROR) for p in found]
    return urls[:count] if count else urls


def slug(u):
    return u.rsplit("/", 2)[-2] + "-" + u.rsplit("/", 1)[-1][:-4]


def call(base, token, method, path, body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(base + path, method=method, data=data, headers=h)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"{}")


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def du_mb(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                pass
    return total / 1e6


def git(*args, **kw):
    return subprocess.run(["git", *args], check=True, capture_output=True, **kw).stdout


def writable_origins(work, urls):
    """Bare copies of the mirror's repositories that pushes may write to, and a HOME whose
    .gitconfig sends each GitHub URL to its copy (longer than /etc/gitconfig's prefix, so it wins)."""
    origins = os.path.join(work, "origins")
    home = os.path.join(work, "home-origins")
    os.makedirs(home, exist_ok=True)
    lines = []
    for u in urls:
        dst = os.path.join(origins, slug(u) + ".git")
        git("clone", "-q", "--bare", "--local", os.path.join(MIRROR, u[len("https://github.com/"):]), dst)
        lines.append(f'[url "{dst}"]\n\tinsteadOf = {u}\n')
    open(os.path.join(home, ".gitconfig"), "w").write("".join(lines))
    return home


class Agent:
    def __init__(self, work, name, home, extra=(), env=None):
        self.data = os.path.join(work, name)
        self.log = os.path.join(work, name + ".log")
        e = dict(os.environ, HOME=home, XDG_CACHE_HOME=os.path.join(work, name + "-cache"), GUARDIAN_DEFAULT_SCHEDULE_SECONDS="0")
        e.update(env or {})
        self.p = subprocess.Popen([BIN, "agent", "--data-dir", self.data, "--name", name, "--no-discovery", "--log-level", "error", *extra],
                                  env=e, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(self.data, "agent.json")):
            if time.monotonic() > deadline or self.p.poll() is not None:
                sys.exit(f"agent {name} did not start: " + open(self.log).read()[-2000:])
            time.sleep(0.05)
        self.base = json.load(open(os.path.join(self.data, "agent.json")))["httpAddr"]
        self.token = open(os.path.join(self.data, "admin.token")).read().strip()

    def call(self, *a, **kw):
        return call(self.base, self.token, *a, **kw)

    def node(self):
        return self.call("GET", "/v1/node")

    def phases(self):
        """Seconds spent in each audit phase, summed over this agent's audits so far."""
        text = urllib.request.urlopen(self.base + "/metrics", timeout=10).read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("guardian_audit_phase_seconds_sum{"):
                out[line.split('phase="')[1].split('"')[0]] = float(line.split()[-1])
        return out

    def memory(self):
        """The agent's own account of its memory (MB): caches and the C heap."""
        text = urllib.request.urlopen(self.base + "/metrics", timeout=10).read().decode()
        wanted = ("guardian_facts_cache_bytes", "guardian_git_cache_bytes", 'guardian_heap_bytes{state="in_use"}', 'guardian_heap_bytes{state="free"}')
        out = {}
        for line in text.splitlines():
            if line.split(" ")[0] in wanted:
                out[line.split(" ")[0]] = float(line.split()[-1]) / 1e6
        return ", ".join(f"{k.replace('guardian_', '')} {v:.0f}" for k, v in out.items())

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=60)


def register_all(agent, urls, secret=None):
    # registration checks each remote (at most 4 at once on the node): 4 clients
    def register(u):
        body = {"repositoryUrl": u, "name": slug(u)}
        if secret:
            body["webhookSecret"] = secret
        return agent.call("POST", "/v1/projects", body)["id"]
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(register, urls))


def wait_results(agents, want, start, what):
    """Until every agent holds `want` results; done early when every queue is idle twice in a row
    (an audit that failed leaves no result)."""
    idle = 0
    while True:
        nodes = [a.node() for a in agents]
        if all(n["results"] >= want for n in nodes):
            return time.monotonic() - start, 0
        idle = idle + 1 if all(n["queueDepth"] == 0 and n["runningAudits"] == 0 for n in nodes) else 0
        if idle >= 100:
            return time.monotonic() - start, want - min(n["results"] for n in nodes)
        if time.monotonic() - start > 1800:
            sys.exit(f"{what}: timed out with {[n['results'] for n in nodes]} of {want} results")
        time.sleep(0.05)


def phase_totals(agents):
    total = {}
    for a in agents:
        for k, v in a.phases().items():
            total[k] = total.get(k, 0) + v
    return total


def print_phases(agents, count, since=None):
    """Where the audits' time went; `since`: totals to subtract (an earlier part of the run)."""
    total = {k: v - (since or {}).get(k, 0) for k, v in phase_totals(agents).items()}
    print("  audit time by phase (summed over audits, so concurrent audits add up): "
          + ", ".join(f"{k} {v:.1f} s ({v / count * 1000:.0f} ms each)" for k, v in sorted(total.items(), key=lambda kv: -kv[1])))


def one_agent(work, urls, home, steady, rate=10.0):
    a = Agent(work, "agent", home, ["--http-addr", "127.0.0.1:0"])
    try:
        start = time.monotonic()
        ids = register_all(a, urls, SECRET)
        registered = time.monotonic() - start
        seconds, failed = wait_results([a], len(ids), start, "one agent")
        rss = rss_mb(a.p.pid)
        print(f"  every project signed: {seconds:.1f} s ({len(urls) / seconds:.2f} audits/s; registration {registered:.1f} s of it); {failed} failed; "
              f"agent CPU {cpu_seconds(a.p.pid):.1f} s ({cpu_seconds(a.p.pid) / seconds:.2f} cores busy)")
        print_phases([a], len(ids))
        if os.environ.get("FLEET_SMAPS"):
            print(open(f"/proc/{a.p.pid}/smaps_rollup").read())
        time.sleep(5)
        print(f"  agent RSS after the run: {rss:.0f} MB, 5 s later {rss_mb(a.p.pid):.0f} MB (bar <= 200 MB); "
              f"disk per project {du_mb(a.data) / len(ids):.2f} MB; analysis cache {du_mb(os.path.join(a.data, 'cache')):.0f} MB")
        print(f"  the agent's memory metrics (MB): {a.memory()}")
    finally:
        a.stop()
    if steady:
        # the same node, restarted with a HOME whose insteadOf sends the pushed projects' URLs to
        # writable copies (the mirror is read-only); the fleet above ran with the machine's own
        # configuration, as a team server would
        pushed = urls[:100]
        writable = writable_origins(work, pushed)
        a = Agent(work, "agent", writable, ["--http-addr", "127.0.0.1:0"])
        try:
            steady_state(work, a, pushed, ids[:100], steady, rate=rate)
        finally:
            a.stop()
    return {"seconds": seconds}


class Events(threading.Thread):
    """The agent's event stream: when each task finished (or failed), by task id."""
    def __init__(self, agent):
        super().__init__(daemon=True)
        self.agent, self.done, self.failed, self.ready = agent, {}, {}, threading.Event()

    def run(self):
        req = urllib.request.Request(self.agent.base + "/v1/events", headers={"Authorization": f"Bearer {self.agent.token}"})
        with urllib.request.urlopen(req, timeout=600) as r:
            kind = None
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith(": guardian events"):
                    self.ready.set()
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind in ("audit.finished", "audit.failed"):
                    d = json.loads(line[6:])
                    (self.done if kind == "audit.finished" else self.failed)[d["task"]] = time.monotonic()


def prepare_pushes(origins, url, n):
    """`n` one-file commits on the default branch of the project's writable origin, made ahead (by
    one `git fast-import`) and not yet on the branch: each appends a line to one Swift file."""
    repo = os.path.join(origins, slug(url) + ".git")
    branch = git("-C", repo, "symbolic-ref", "HEAD").decode().strip()
    files = [f for f in git("-C", repo, "ls-tree", "-r", "--name-only", "HEAD").decode().splitlines() if f.endswith(".swift")]
    if not files:
        return None
    path = random.Random(url).choice(files)
    content = git("-C", repo, "show", f"HEAD:{path}")
    stream = []
    for i in range(n):
        content += f"// push {i}\n".encode()
        stream.append(f"commit refs/bench/pushes\nmark :{i + 1}\ncommitter Bench <bench@example.com> {1700000000 + i} +0000\n"
                      f"data 7\npush {i:02d}\n".encode())
        if i == 0:
            stream.append(b"from " + git("-C", repo, "rev-parse", "HEAD").strip() + b"\n")
        stream.append(f"M 100644 inline {path}\ndata {len(content)}\n".encode() + content + b"\n")
    marks = os.path.join(repo, "bench-marks")
    subprocess.run(["git", "-C", repo, "fast-import", "--quiet", f"--export-marks={marks}"], input=b"".join(stream), check=True)
    shas = dict(l.split() for l in open(marks).read().splitlines())
    return repo, branch, [shas[f":{i + 1}"] for i in range(n)]


def steady_state(work, agent, urls, ids, pushes, projects=100, rate=10.0):
    print(f"== steady state: the same agent restarted, then {pushes} webhook pushes over {min(projects, len(ids))} projects at {rate:.0f}/s offered")
    chosen = list(zip(urls, ids))[:projects]
    per = -(-pushes // len(chosen))
    origins = os.path.join(work, "origins")
    prepared = {}
    for u, pid in chosen:
        p = prepare_pushes(origins, u, per)
        if p:
            prepared[pid] = (u, *p)
    order = [pid for pid in prepared for _ in range(per)][:pushes]
    random.Random(24).shuffle(order)
    before = phase_totals([agent])
    events = Events(agent)
    events.start()
    events.ready.wait(10)
    next_commit = {pid: 0 for pid in prepared}
    sent = {}
    start = time.monotonic()
    for k, pid in enumerate(order):
        while time.monotonic() < start + k / rate:
            time.sleep(0.001)
        u, repo, branch, shas = prepared[pid]
        sha = shas[next_commit[pid]]
        next_commit[pid] += 1
        git("-C", repo, "update-ref", branch, sha)
        body = json.dumps({"ref": branch, "after": sha, "repository": {"clone_url": u}, "head_commit": {"id": sha}}).encode()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        t0 = time.monotonic()
        r = agent.call("POST", f"/v1/hooks/github/{pid}", raw=body,
                       headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": f"bench-{k}", "X-Hub-Signature-256": sig})
        if "taskId" in r:
            sent[r["taskId"]] = t0
    offered = time.monotonic() - start
    deadline = time.monotonic() + 600
    while len(set(sent) - set(events.done) - set(events.failed)) > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    finished = max([events.done[t] for t in sent if t in events.done], default=start)
    lat = sorted((events.done[t] - t0) * 1000 for t, t0 in sent.items() if t in events.done)
    failed = sum(1 for t in sent if t in events.failed)
    missing = len(sent) - len(lat) - failed
    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else float("nan")
    print(f"  {len(order)} pushes sent in {offered:.1f} s; {len(sent)} audits queued; {len(lat)} stored, {failed} failed, {missing} never finished")
    print(f"  push to stored, signed result: p50 {pct(50):.0f} ms, p99 {pct(99):.0f} ms, max {lat[-1] if lat else float('nan'):.0f} ms (bar p99 <= 1000 ms)")
    print(f"  sustained: {len(lat) / (finished - start):.1f} pushes/s over {finished - start:.1f} s")
    print_phases([agent], max(1, len(lat)), since=before)
    time.sleep(5)
    print(f"  agent RSS after the steady state (5 s idle): {rss_mb(agent.p.pid):.0f} MB (bar <= 200 MB)")
    return {"p50": pct(50), "p99": pct(99)}


def mesh(work, urls, home):
    key = subprocess.run([BIN, "keygen"], check=True, capture_output=True, text=True).stdout.strip()
    keyfile = os.path.join(work, "cluster.key")
    open(keyfile, "w").write(key)
    os.chmod(keyfile, 0o600)
    agents = []
    try:
        for i in range(3):
            join = ["--join", "127.0.0.1:27960"] if i else []
            agents.append(Agent(work, f"mesh{i}", home, ["--http-addr", f"127.0.0.1:{27860 + i}", "--gossip-addr", f"127.0.0.1:{27960 + i}", *join],
                                env={"GUARDIAN_CLUSTER_KEY_FILE": keyfile}))
        deadline = time.monotonic() + 60
        while not all(sum(m["status"] == "alive" for m in a.call("GET", "/v1/members")["members"]) == 3 for a in agents):
            if time.monotonic() > deadline:
                sys.exit("the 3 agents did not form a mesh in 60 s")
            time.sleep(0.1)
        start = time.monotonic()
        ids = register_all(agents[0], urls)
        seconds, failed = wait_results(agents, len(ids), start, "mesh")
        cpu = sum(cpu_seconds(a.p.pid) for a in agents)
        print(f"  every owner holds every result: {seconds:.1f} s ({len(urls) / seconds:.2f} audits/s); {failed} missing on some owner; "
              f"CPU of the 3 agents {cpu:.1f} s ({cpu / seconds:.2f} cores busy)")
        print_phases(agents, len(ids))
        print("  RSS per agent after the run: " + ", ".join(f"{rss_mb(a.p.pid):.0f} MB" for a in agents))
        return seconds
    finally:
        for a in agents:
            a.stop()


def bare_floor(work, urls):
    bare = os.path.join(work, "bare")
    os.makedirs(bare)
    start = time.monotonic()
    paths = []
    for u in urls:
        dst = os.path.join(bare, slug(u) + ".git")
        subprocess.run(["git", "clone", "-q", "--bare", u, dst], check=True)
        paths.append(dst)
    cloned = time.monotonic() - start
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "floor-cache"))
    t = time.monotonic()
    before = os.times()
    for path in paths:
        r = subprocess.run([BIN, "audit", path, "--format", "json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode > 1:
            print(f"  (guardian audit {path} exited {r.returncode})")
    after = os.times()
    return {"clone": cloned, "audit": time.monotonic() - t, "seconds": time.monotonic() - start,
            "cpu": after.children_user + after.children_system - before.children_user - before.children_system}


def lizard_run(work, urls):
    checkouts = os.path.join(work, "checkouts")
    os.makedirs(checkouts)
    dirs = []
    for u in urls:
        dst = os.path.join(checkouts, slug(u))
        subprocess.run(["git", "clone", "-q", u, dst], check=True)
        dirs.append(dst)
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "lizard", "-t", "2", "-l", "swift", "--csv"] + dirs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=0, help="repositories (default: every one in the mirror)")
    ap.add_argument("--only", default="fleet,steady,mesh,floor,lizard", help="which parts to run, comma-separated")
    ap.add_argument("--pushes", type=int, default=1000, help="webhook pushes in the steady state")
    ap.add_argument("--push-rate", type=float, default=10.0, help="pushes per second offered in the steady state")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    urls = repositories(args.count)
    work = os.path.join(ROOT, "bench-work", "fleet")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    home = os.path.join(work, "home")  # the machine's git configuration only (/etc/gitconfig)
    os.makedirs(home)
    results = {}
    if "fleet" in parts or "steady" in parts:
        print(f"== fleet: {len(urls)} repositories from {MIRROR}, one agent ({BIN})")
        results["agent"] = one_agent(work, urls, home, args.pushes if "steady" in parts else 0, args.push_rate)["seconds"]
    if "mesh" in parts:
        print(f"== fleet: the same {len(urls)} repositories on a 3-agent mesh (replication factor 3: each agent owns every project)")
        results["mesh"] = mesh(work, urls, home)
    if "floor" in parts:
        f = bare_floor(work, urls)
        results["floor"] = f["seconds"]
        print(f"== bare floor: git clone --bare {f['clone']:.1f} s + sequential guardian audit (cold cache) {f['audit']:.1f} s = {f['seconds']:.1f} s; "
              f"the audits' CPU {f['cpu']:.1f} s")
    if "lizard" in parts:
        results["lizard"] = lizard_run(work, urls)
        print(f"== lizard -t 2 on checkouts of the same repositories: {results['lizard']:.1f} s")
    r = results
    ratios = []
    if "agent" in r and "floor" in r:
        ratios.append(f"agent / floor {r['agent'] / r['floor']:.2f} (bar <= 1.2)")
    if "agent" in r and "lizard" in r:
        ratios.append(f"lizard / agent {r['lizard'] / r['agent']:.2f} (bar >= 3)")
    if "agent" in r and "mesh" in r:
        ratios.append(f"mesh / agent {r['mesh'] / r['agent']:.2f} (bar <= 1.5)")
    if ratios:
        print("== ratios: " + "; ".join(ratios))


if __name__ == "__main__":
    main()
