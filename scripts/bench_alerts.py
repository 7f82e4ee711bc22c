#!/usr/bin/env python3
"""Alerts on real agents (docs/alerts.md; figures in docs/benchmarks.md).

  bench_alerts.py latency [--events 200]            event to delivered message, healthy receiver, 3-agent mesh
  bench_alerts.py faults  [--runs 20] [--events 100] [--seed 1] [--per-run 1] [--kinds kill,stop,partition]
                                                    3-agent mesh, failing and slow receivers, the primary
                                                    killed, stopped or partitioned from the other owners
                                                    (still reaching the receiver) at random during sends:
                                                    lost and repeats
  bench_alerts.py backlog [--alerts 1000]           webhook to stored result (swift-nio) with and without
                                                    1,000 alerts waiting on a receiver that answers in 5 s

GUARDIAN_BIN names the agent binary (default .build/release/guardian). Everything runs on loopback.
The partition fault needs root: each agent runs under a group of its own, and iptables drops (by
that group, `-m owner --gid-owner`) what the primary and the other agents send to each other's
HTTP and gossip ports, while the receiver and this script still reach every agent.
"""
import argparse, hashlib, hmac, json, os, random, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIN = os.environ.get("GUARDIAN_BIN", ".build/release/guardian")
ROOT = tempfile.mkdtemp(prefix="guardian-bench-alerts-")


def call(port, token, method, path, body=None, headers=None, timeout=20):
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})}
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            return r.status, json.loads(text) if text and r.headers.get("Content-Type", "").startswith("application/json") else None
    except urllib.error.HTTPError as e:
        return e.code, None


class Agent:
    gids = iter(range(61001, 62000))

    def __init__(self, name, env, key=None):
        self.name, self.env, self.key = name, env, key
        self.gid = next(Agent.gids) if os.geteuid() == 0 else None
        self.dir = os.path.join(ROOT, name + "-" + str(random.random())[2:8])
        self.proc, self.port, self.gossip, self.stopped = None, None, None, False

    def start(self, join=None):
        args = [BIN, "agent", "--data-dir", self.dir, "--http-addr", "127.0.0.1:0", "--name", self.name, "--log-level", "warning"]
        if self.key:
            args += ["--gossip-addr", "127.0.0.1:0", "--cluster-key", self.key]
        if join:
            args += ["--join", join]
        self.log = self.dir + ".log"
        seen = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        out = open(self.log, "a")
        groups = {"group": self.gid, "extra_groups": []} if self.gid else {}
        self.proc = subprocess.Popen(args, stdout=out, stderr=out, env={**os.environ, **self.env}, **groups)
        deadline = time.time() + 30
        while time.time() < deadline:
            text = open(self.log).read()[seen:]
            m = re.findall(r"listening on http://127\.0\.0\.1:(\d+)", text)
            g = re.findall(r"mesh gossip on (\S+)", text)
            if m and (g or not self.key):
                self.port, self.gossip = int(m[-1]), (g[-1] if g else None)
                self.token = open(os.path.join(self.dir, "admin.token")).read().strip()
                self.stopped = False
                return self
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start: {open(self.log).read()[-2000:]}")

    def api(self, method, path, body=None, **kw):
        return call(self.port, self.token, method, path, body, **kw)

    @property
    def up(self):
        return self.proc is not None and self.proc.poll() is None and not self.stopped

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def close(self):
        if self.proc and self.proc.poll() is None:
            if self.stopped:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class Partition:
    """A cut between agents on loopback: iptables drops what one side's processes (matched by their
    group) send to the other side's HTTP and gossip ports, both ways. Nothing else is touched."""
    chain = f"GBENCH{os.getpid()}"

    def __init__(self):
        subprocess.run(["iptables", "-N", self.chain], check=True)
        subprocess.run(["iptables", "-I", "OUTPUT", "-j", self.chain], check=True)

    @staticmethod
    def ports(agent):
        return [agent.port, int(agent.gossip.rsplit(":", 1)[1])]

    def cut(self, side, rest):
        for a, others in [(side, rest)] + [(o, [side]) for o in rest]:
            ports = ",".join(str(p) for o in others for p in self.ports(o))
            for proto in ("tcp", "udp"):
                subprocess.run(["iptables", "-A", self.chain, "-o", "lo", "-m", "owner", "--gid-owner", str(a.gid),
                                "-p", proto, "-m", "multiport", "--dports", ports, "-j", "DROP"], check=True)

    def heal(self):
        subprocess.run(["iptables", "-F", self.chain], check=True)

    def close(self):
        subprocess.run(["iptables", "-D", "OUTPUT", "-j", self.chain])
        subprocess.run(["iptables", "-F", self.chain])
        subprocess.run(["iptables", "-X", self.chain])


class Receiver:
    """Records each request; answers after a delay drawn from `latency` (ms), failing `failure` of them
    (half 429 with Retry-After: 1, half 503). Counts acceptances (200s) per delivery id."""

    def __init__(self, rng=None, latency=(0, 0), failure=0.0, fixed_delay=None):
        self.rng, self.latency, self.failure, self.fixed = rng or random.Random(0), latency, failure, fixed_delay
        self.lock = threading.Lock()
        self.accepted, self.key_of, self.arrivals, self.requests = {}, {}, {}, 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.time()
                with receiver.lock:
                    receiver.requests += 1
                    delay = receiver.fixed if receiver.fixed is not None else receiver.rng.uniform(*receiver.latency) / 1000
                    fail = receiver.rng.random() < receiver.failure
                    retry = receiver.rng.random() < 0.5
                time.sleep(delay)
                delivery = self.headers.get("X-Guardian-Delivery", "")
                if fail:
                    self.send_response(429 if retry else 503)
                    if retry:
                        self.send_header("Retry-After", "1")
                else:
                    self.send_response(200)
                    try:
                        doc = json.loads(body)
                    except ValueError:
                        doc = {}
                    with receiver.lock:
                        receiver.accepted[delivery] = receiver.accepted.get(delivery, 0) + 1
                        receiver.key_of[delivery] = (doc.get("resultId"), self.path)
                        receiver.arrivals.setdefault((doc.get("resultId"), self.path), now + delay)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a sender killed mid-request: the receiver already counted what it accepted

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/hooks/{name}"

    def close(self):
        self.server.shutdown()


def keygen():
    return subprocess.run([BIN, "keygen"], check=True, capture_output=True, text=True).stdout.strip().split()[-1]


def fixture(name):
    path = os.path.join(ROOT, name)
    os.makedirs(os.path.join(path, "app"))
    git = lambda *a: subprocess.run(["git", "-C", path, *a], check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    git("config", "user.email", "bench@example.com")
    git("config", "user.name", "bench")
    open(os.path.join(path, "app", "main.py"), "w").write('import os\n\n\ndef run(request):\n    """Run."""\n    os.system(request.path)\n')
    git("add", "-A")
    git("commit", "-qm", "feat: demo")
    return path, git


def new_finding(path, git, i):
    open(os.path.join(path, "app", f"f{i}.py"), "w").write(f'import os\n\n\ndef f{i}(cmd):\n    """F{i}."""\n    os.system(cmd)\n')
    git("add", "-A")
    git("commit", "-qm", f"feat: f{i}")


def wait(what, cond, timeout=60, every=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return True
        except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
            pass
        time.sleep(every)
    raise TimeoutError(what)


def mesh(env, names=("alpha", "bravo", "charlie")):
    key = keygen()
    base = {"GUARDIAN_DISCOVERY": "off", "GUARDIAN_PROBE_INTERVAL_MS": "200", "GUARDIAN_PUSH_PULL_SECONDS": "2",
            "GUARDIAN_ALLOWED_LOCAL_ROOTS": ROOT, "GUARDIAN_ALERT_ALLOW_PRIVATE_TARGETS": "on", "XDG_CACHE_HOME": ROOT + "/cache", **env}
    agents = [Agent(names[0], base, key).start()]
    for n in names[1:]:
        agents.append(Agent(n, base, key).start(join=agents[0].gossip))
    wait("three alive", lambda: all(len([m for m in a.api("GET", "/v1/members")[1]["members"] if m["status"] == "alive"]) == 3 for a in agents))
    return agents


def audit(agent, project):
    try:
        status, task = agent.api("POST", f"/v1/projects/{project}/audits?local=1", timeout=20)
    except OSError:  # killed between the choice and the call (URLError is an OSError)
        return None
    if status != 202:
        return None
    tid = task["taskId"]
    deadline = time.time() + 60
    while time.time() < deadline:
        if not agent.up:
            return None
        try:
            s, t = agent.api("GET", f"/v1/audits/{tid}", timeout=5)
        except OSError:
            return None
        if s == 200 and t["state"] == "succeeded":
            return t
        if s == 200 and t["state"] == "failed":
            return None
        time.sleep(0.02)
    return None


def setup(agents, receiver, channels, team="t", frequency="immediate"):
    path, git = fixture("repo-" + str(random.random())[2:8])
    s, p = agents[0].api("POST", "/v1/projects", {"repositoryUrl": path, "name": "alerting", "team": team, "scheduleSeconds": 0})
    pid = p["id"]
    for a in agents:
        wait("first result", lambda: "resultId" in a.api("GET", f"/v1/projects/{pid}/audit-status?local=1")[1], 60)
    for c in channels:
        s, _ = agents[0].api("POST", f"/v1/teams/{team}/channels", {"name": c, "kind": "webhook", "url": receiver.url(c),
                                                                   "frequency": frequency, "events": ["finding.new"]})
        assert s == 201, s
    for a in agents:
        wait("channels everywhere", lambda: len(a.api("GET", f"/v1/teams/{team}/channels")[1]["channels"]) == len(channels), 30)
    return pid, path, git


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def latency(args):
    receiver = Receiver()
    agents = mesh({"GUARDIAN_REPLICATION_FACTOR": "3"})
    try:
        pid, path, git = setup(agents, receiver, ["hook"])
        primary = agents[[a.name for a in agents].index(agents[0].api("GET", f"/v1/projects/{pid}/owners")[1]["primary"])]
        times = []
        for i in range(args.events):
            new_finding(path, git, i)
            t = audit(primary, pid)
            if t is None:
                continue
            rid = t["resultId"]
            wait("delivered", lambda: (rid, "/hooks/hook") in receiver.arrivals, 30, every=0.005)
            times.append((receiver.arrivals[(rid, "/hooks/hook")] - t["finishedAt"]) * 1000)
        print(f"latency: {len(times)} events, result stored to message accepted: p50 {percentile(times, 50):.0f} ms, "
              f"p99 {percentile(times, 99):.0f} ms, max {max(times):.0f} ms (bar: p99 <= 2000 ms)")
        dup = sum(n - 1 for n in receiver.accepted.values())
        print(f"  messages accepted {sum(receiver.accepted.values())}, distinct {len(receiver.accepted)}, repeats {dup}")
    finally:
        for a in agents:
            a.close()
        receiver.close()


def faults(args):
    total = {"events": 0, "messages": 0, "lost": 0, "repeats": 0, "faults": 0, "by_kind": {}}
    kinds = args.kinds.split(",")
    partition = Partition() if "partition" in kinds else None
    try:
        for run in range(args.runs):
            fault_run(args, run, kinds, partition, total)
    finally:
        if partition:
            partition.close()
    m = max(total["messages"], 1)
    print(f"faults ({args.kinds}, {args.per_run} per run): {args.runs} runs, {total['events']} events, {total['messages']} messages, "
          f"{total['faults']} faults: lost {total['lost']}, repeats {total['repeats']} ({100 * total['repeats'] / m:.2f} %) (bar: 0 lost, <= 1 %)")
    if args.per_run == 1:
        for kind, (n, repeats) in sorted(total["by_kind"].items()):
            print(f"  {kind}: {n} faults, {repeats} repeats ({repeats / n:.2f} per fault)")


def fault_run(args, run, kinds, partition, total):
    seed = args.seed + run
    rng = random.Random(seed)
    receiver = Receiver(rng=random.Random(seed * 7919), latency=(5, 800), failure=0.2)
    agents = mesh({"GUARDIAN_REPLICATION_FACTOR": "3", "GUARDIAN_ALERT_GRACE_SECONDS": "5", "GUARDIAN_ANTI_ENTROPY_SECONDS": "2"})
    channels = ["c1", "c2", "c3"]
    log = []
    try:
        pid, path, git = setup(agents, receiver, channels)
        by_name = {a.name: a for a in agents}
        expected, stop = set(), threading.Event()

        def inject():
            for k in range(args.per_run):
                if stop.wait(rng.uniform(3, 12)):
                    return
                live = [a for a in agents if a.up]
                owners = live[0].api("GET", f"/v1/projects/{pid}/owners")[1]["owners"]
                target = by_name[owners[0]]
                if not target.up:
                    continue
                length = rng.uniform(5, 25)
                kind = rng.choice(kinds)
                log.append(f"{kind} {target.name} {length:.0f} s")
                if kind == "kill":
                    target.kill()
                    time.sleep(length)
                    target.start(join=next(a for a in agents if a is not target and a.up).gossip)
                elif kind == "stop":
                    target.pause()
                    time.sleep(length)
                    target.resume()
                else:
                    partition.cut(target, [a for a in agents if a is not target])
                    time.sleep(length)
                    partition.heal()

        injector = threading.Thread(target=inject)
        injector.start()
        for i in range(args.events):
            new_finding(path, git, i)
            live = [a for a in agents if a.up]
            t = audit(rng.choice(live), pid) if live else None
            if t:
                for c in channels:
                    expected.add((t["resultId"], f"/hooks/{c}"))
            time.sleep(rng.uniform(0, 0.5))
        injector.join()
        accepted_keys = lambda: {receiver.key_of[d] for d in receiver.accepted}
        try:
            wait("every message accepted", lambda: expected <= accepted_keys(), 180, every=0.5)
        except TimeoutError:
            pass
        time.sleep(3 * 5 + 8)  # a standby's late send would come within a few graces
        lost = len(expected - accepted_keys())
        repeats = sum(n - 1 for n in receiver.accepted.values())
        print(f"run {run + 1} (seed {seed}): {len(expected) // 3} events, {len(expected)} messages, lost {lost}, repeats {repeats}; {', '.join(log)}",
              flush=True)
        if lost:
            print(f"  lost: {sorted(expected - accepted_keys())[:5]}", flush=True)
        if os.environ.get("GUARDIAN_BENCH_KEEP"):
            print(f"  repeated: {[d for d, n in receiver.accepted.items() if n > 1][:20]}", flush=True)
        total["events"] += len(expected) // 3
        total["messages"] += len(expected)
        total["lost"] += lost
        total["repeats"] += repeats
        total["faults"] += len(log)
        if len(log) == 1:
            n, r = total["by_kind"].get(log[0].split()[0], (0, 0))
            total["by_kind"][log[0].split()[0]] = (n + 1, r + repeats)
    finally:
        for a in agents:
            a.close()
        receiver.close()


def roundtrips(agent, pid, checkout, secret, n, tag):
    git = lambda *a: subprocess.run(["git", "-C", checkout, *a], check=True, capture_output=True, text=True).stdout.strip()
    out = []
    for i in range(n):
        source = next(f for f in git("ls-files", "Sources/*.swift").splitlines())
        with open(f"{checkout}/{source}", "a") as f:
            f.write(f"\nfunc benchAlerts{tag}{i}() -> Int {{ {i} }}\n")
        git("commit", "-qam", f"bench: push {tag} {i}")
        sha = git("rev-parse", "HEAD")
        body = json.dumps({"ref": "refs/heads/main", "after": sha, "repository": {"clone_url": checkout}}).encode()
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        start = time.time()
        agent.api("POST", f"/v1/hooks/github/{pid}", body, headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": f"b-{tag}-{i}",
                                                                   "X-Hub-Signature-256": sig})
        wait("stored", lambda: agent.api("GET", f"/v1/projects/{pid}/audit-status")[1].get("commit") == sha, 60, every=0.01)
        out.append((time.time() - start) * 1000)
    return out


def backlog(args):
    slow = Receiver(fixed_delay=5.0)
    agent = Agent("solo", {"GUARDIAN_ALLOWED_LOCAL_ROOTS": ROOT, "GUARDIAN_ALERT_ALLOW_PRIVATE_TARGETS": "on",
                           "GUARDIAN_DISCOVERY": "off", "XDG_CACHE_HOME": ROOT + "/cache"}).start()
    try:
        checkout = os.path.join(ROOT, "swift-nio")
        subprocess.run(["git", "clone", "-q", "https://github.com/apple/swift-nio.git", checkout], check=True)
        subprocess.run(["git", "-C", checkout, "config", "user.email", "bench@example.com"], check=True)
        subprocess.run(["git", "-C", checkout, "config", "user.name", "bench"], check=True)
        s, p = agent.api("POST", "/v1/projects", {"repositoryUrl": checkout, "name": "nio", "team": "nio", "webhookSecret": "bench-secret",
                                                  "scheduleSeconds": 0})
        nio = p["id"]
        wait("nio's first result", lambda: "resultId" in agent.api("GET", f"/v1/projects/{nio}/audit-status")[1], 300, every=0.2)
        roundtrips(agent, nio, checkout, "bench-secret", 2, "warm")
        before = roundtrips(agent, nio, checkout, "bench-secret", 10, "before")
        # the backlog: 50 channels of another team, each result a message per channel, to a receiver that answers in 5 s
        channels = [f"slow{i}" for i in range(50)]
        pid, path, git = setup([agent], slow, channels)
        for i in range(args.alerts // len(channels)):
            new_finding(path, git, i)
            audit(agent, pid)
        s, waiting = agent.api("GET", "/v1/notifications?limit=1000&status=queued")
        s, retrying = agent.api("GET", "/v1/notifications?limit=1000&status=retrying")
        queued = len(waiting["notifications"]) + len(retrying["notifications"])
        during = roundtrips(agent, nio, checkout, "bench-secret", 10, "during")
        s, still = agent.api("GET", "/v1/notifications?limit=1000&status=queued")
        print(f"backlog: {queued} alerts waiting on a receiver that answers in 5 s when the pushes began, {len(still['notifications'])} after them "
              f"({slow.requests} requests received meanwhile)")
        print(f"  webhook to stored result (swift-nio, 10 pushes each): without the backlog p50 {statistics.median(before):.0f} ms, "
              f"max {max(before):.0f} ms; with it p50 {statistics.median(during):.0f} ms, max {max(during):.0f} ms")
    finally:
        agent.close()
        slow.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["latency", "faults", "backlog"])
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--per-run", type=int, default=1, help="faults per run")
    ap.add_argument("--kinds", default="kill,stop,partition" if os.geteuid() == 0 else "kill,stop",
                    help="faults to draw from: kill, stop, partition (partition needs root: iptables)")
    args = ap.parse_args()
    if args.events is None:
        args.events = 200 if args.what == "latency" else 100
    try:
        {"latency": latency, "faults": faults, "backlog": backlog}[args.what](args)
    finally:
        if os.environ.get("GUARDIAN_BENCH_KEEP"):
            print(f"kept {ROOT}")
        else:
            shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
