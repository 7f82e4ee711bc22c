#!/usr/bin/env python3
"""The operations kit, checked with the tools that consume it, and the compose topology run as processes.

- docker-compose.yml: `docker-compose config` accepts it; then the three nodes run as local processes
  with the commands, environment and files the compose file and the Dockerfile give them (each
  service's host name becomes a loopback address of its own, 127.0.0.2N, with the same ports), and
  they form a mesh and answer /readyz. The keygen service's command makes the key file they read.
- Prometheus: promtool check config / check rules / test rules; Alertmanager: amtool check-config.
- Every metric the Grafana dashboard and the alert rules query is exported by a running agent.
- Kubernetes: kubernetes-validate --strict on the manifests (the ServiceMonitor, a CRD it has no
  schema for, is checked against the Service here).
- systemd: systemd-analyze verify accepts the unit; an agent given NOTIFY_SOCKET sends READY=1
  once its HTTP and gossip sockets are bound, WATCHDOG=1 with WATCHDOG_USEC, STOPPING=1 on SIGTERM.
- Logs: GUARDIAN_LOG_FORMAT=json gives one JSON object per line, with one debug line per HTTP
  request; an invalid GUARDIAN_LOG_LEVEL stops the start with a message that names it.
- The CLI finds a running agent from another shell with no flags (the address and data directory
  the agent wrote).

Run by `make test` after the Swift tests (which build .build/debug/guardian); GUARDIAN_TEST_BINARY
picks another binary.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("GUARDIAN_TEST_BINARY", os.path.join(ROOT, ".build", "debug", "guardian"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from polling import Fatal, eventually, expect  # noqa: E402

FAILURES = []


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


def http(url, token=None, timeout=5):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode()


def test(fn):
    def wrapped():
        started = time.monotonic()
        try:
            fn()
            print(f"ok    {fn.__name__} ({time.monotonic() - started:.1f}s)")
        except Exception as e:
            FAILURES.append(fn.__name__)
            print(f"FAIL  {fn.__name__}: {e}")
    wrapped.__name__ = fn.__name__
    return wrapped


# --- compose ------------------------------------------------------------------------------------

def dockerfile_env():
    """The ENV of the Dockerfile's runtime stage (the last FROM), as the container sees it."""
    text = open(os.path.join(ROOT, "Dockerfile")).read().replace("\\\n", " ")
    stage = text[text.rindex("\nFROM "):]
    env = {}
    for line in stage.splitlines():
        if line.startswith("ENV "):
            for k, v in re.findall(r"(\w+)=(\S+)", line[4:]):
                env[k] = v
    return env


class ComposeMesh:
    """The compose file's guardian-N services as processes: service host name -> 127.0.0.2N."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="guardian-compose-")
        compose = yaml.safe_load(open(os.path.join(ROOT, "docker-compose.yml")))
        self.services = {k: v for k, v in compose["services"].items() if re.fullmatch(r"guardian-\d+", k)}
        expect(len(self.services) == 3, f"three guardian services, found {sorted(self.services)}")
        self.hosts = {name: f"127.0.0.{20 + int(name.split('-')[1])}" for name in self.services}
        self.procs = {}
        self.volumes = {}

    def path(self, container_path, service):
        """A container path mounted from a named volume, as a directory of this test."""
        for v in self.services[service].get("volumes", []) if service else []:
            src, dst = v.split(":")[0], v.split(":")[1]
            if container_path == dst or container_path.startswith(dst + "/"):
                return os.path.join(self.root, "volumes", src) + container_path[len(dst):]
        return None

    def translate(self, value, service):
        for name, ip in self.hosts.items():
            value = re.sub(rf"\b{re.escape(name)}:", f"{ip}:", value)
        value = value.replace("0.0.0.0", self.hosts[service]) if service else value
        for prefix in ("/var/lib/guardian", "/run/guardian"):
            if prefix in value:
                value = value.replace(prefix, self.path(prefix, service))
        return value

    def keygen(self, compose):
        svc = compose["services"]["keygen"]
        key_dir = os.path.join(self.root, "volumes", svc["volumes"][0].split(":")[0])
        os.makedirs(key_dir, mode=0o700)
        script = svc["command"][0].replace("/run/guardian", key_dir).replace("/usr/local/bin/guardian", BINARY)
        expect(svc["entrypoint"][:2] == ["/bin/sh", "-c"], "keygen runs a shell command")
        r = run(["/bin/sh", "-c", script])
        expect(r.returncode == 0, f"keygen: {r.stderr}")
        # a second `up` keeps the key
        first = open(os.path.join(key_dir, "cluster.key")).read()
        run(["/bin/sh", "-c", script])
        expect(open(os.path.join(key_dir, "cluster.key")).read() == first, "keygen kept the existing key")

    def start(self):
        compose = yaml.safe_load(open(os.path.join(ROOT, "docker-compose.yml")))
        self.keygen(compose)
        image_env = dockerfile_env()
        for name, svc in sorted(self.services.items()):
            env = {k: str(v) for k, v in image_env.items()}
            env.update({k: str(v) for k, v in svc["environment"].items()})
            env = {k: self.translate(v, name) for k, v in env.items()}
            expect("GUARDIAN_CLUSTER_KEY" not in env, "the key comes from a file, not a variable")
            os.makedirs(env["GUARDIAN_DATA_DIR"], mode=0o700, exist_ok=True)
            home = os.path.join(self.root, name + "-home")
            full = dict(os.environ, HOME=home, XDG_CACHE_HOME=home + "/cache", GUARDIAN_PROBE_INTERVAL_MS="200",
                        GUARDIAN_PUSH_PULL_SECONDS="2", **env)
            full.pop("XDG_STATE_HOME", None)
            log = open(os.path.join(self.root, name + ".log"), "w")
            self.procs[name] = (subprocess.Popen([BINARY] + svc["command"], env=full, stdout=log, stderr=subprocess.STDOUT), env)

    def log(self, name):
        return open(os.path.join(self.root, name + ".log")).read()

    def url(self, name):
        return f"http://{self.hosts[name]}:7780"

    def token(self, name):
        return open(os.path.join(self.procs[name][1]["GUARDIAN_DATA_DIR"], "admin.token")).read().strip()

    def alive(self, name):
        if self.procs[name][0].poll() is not None:
            raise Fatal(f"{name} exited: {self.log(name)[-1500:]}")
        return True

    def stop(self):
        for p, _ in self.procs.values():
            p.terminate()
        for p, _ in self.procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.root, ignore_errors=True)


MESH = None


@test
def compose_file_is_valid():
    r = run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"), "config", "-q"], cwd=ROOT)
    expect(r.returncode == 0, f"docker-compose config: {r.stderr}")
    compose = yaml.safe_load(open(os.path.join(ROOT, "docker-compose.yml")))
    for name in ["guardian-1", "guardian-2", "guardian-3", "prometheus", "alertmanager", "grafana"]:
        svc = compose["services"].get(name)
        expect(svc is not None, f"service {name}")
        expect("healthcheck" in svc or name.startswith("guardian"), f"{name} has a healthcheck")
    for v in ["guardian-1-data", "guardian-2-data", "guardian-3-data", "cluster-key"]:
        expect(v in compose["volumes"], f"named volume {v}")
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    expect(re.search(r"HEALTHCHECK .*\n.*readyz", text), "the image's HEALTHCHECK asks /readyz")
    expect(re.search(r"^USER guardian", text, re.M), "the image runs as a non-root user")
    for port in ["7780/tcp", "7946/tcp", "7946/udp", "7947/udp"]:
        expect(port in text, f"EXPOSE {port}")
    # SwiftPM refuses a package whose targets' folders are missing: the build stage copies them all
    copied = set(re.findall(r"^COPY (\S+) ", text, re.M))
    for folder in ("Sources", "Tests"):
        expect(os.path.isdir(os.path.join(ROOT, folder)) and folder in copied, f"the build stage copies {folder}/")


@test
def compose_nodes_form_a_mesh_as_processes():
    global MESH
    MESH = ComposeMesh()
    MESH.start()
    for name in MESH.services:
        eventually(f"{name} /readyz", lambda n=name: MESH.alive(n) and http(MESH.url(n) + "/readyz")[0] == 200, 90)
    for name in MESH.services:
        def three_alive(n=name):
            MESH.alive(n)
            members = json.loads(http(MESH.url(n) + "/v1/members", MESH.token(n))[1])["members"]
            return sorted(m["name"] for m in members if m["status"] == "alive") == sorted(MESH.services)
        eventually(f"{name} to see the three nodes alive", three_alive, 60)
    # the key was read from the file: no node logged that it runs alone
    for name in MESH.services:
        expect("running as a single node" not in MESH.log(name), f"{name} runs alone")


@test
def dashboard_and_rules_query_only_exported_metrics():
    expect(MESH is not None, "the compose mesh runs")
    n = "guardian-1"
    http(MESH.url(n) + "/v1/projects", MESH.token(n))  # an HTTP request to count
    def scraped():
        text = http(MESH.url(n) + "/metrics")[1]
        return text if "guardian_http_requests_total" in text and "guardian_alert_outbox" in text else None
    text = eventually("HTTP and outbox metrics", scraped, 30)
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    dashboard = json.load(open(os.path.join(ROOT, "configs", "grafana", "dashboards", "guardian.json")))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load(open(os.path.join(ROOT, "configs", "prometheus", "rules", "guardian.yml")))
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    expect(len(exprs) > 30, f"queries found: {len(exprs)}")
    promql = {"sum", "max", "min", "rate", "increase", "delta", "histogram_quantile", "by", "and", "or", "count", "time", "le", "instance",
              "job", "up", "status", "outcome", "state", "severity", "reason", "direction", "route", "method", "version", "on", "without"}
    queried = set()
    for e in exprs:
        for name in re.findall(r"\b([a-z_][a-z0-9_]*)\b(?=\s*[{\[(]|\s*\)|\s*[<>=!/*+-]|\s*$)", re.sub(r'"[^"]*"', '""', e)):
            if name not in promql and (name.startswith("guardian_") or name.startswith("process_")):
                queried.add(name)
    # the certificate's expiry exists only with tls_cert set (the compose mesh runs without TLS);
    # tls_api_between_members_cli_and_reload reads it from a node that serves HTTPS
    missing = sorted(q for q in queried if q not in exported and q != "guardian_tls_certificate_expiry_timestamp_seconds")
    expect(len(queried) >= 25, f"metric names found in the queries: {sorted(queried)}")
    expect(not missing, f"queried but not exported by a running agent: {missing}")


@test
def cli_finds_the_running_agent_from_another_shell():
    expect(MESH is not None, "the compose mesh runs")
    n = "guardian-2"
    home = os.path.join(MESH.root, n + "-home")
    # a shell with none of the agent's settings: only the same user's home
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
    r = run([BINARY, "members"], env=env)
    expect(r.returncode == 0, f"guardian members with no flags: {r.stderr}")
    expect("guardian-1" in r.stdout and "guardian-3" in r.stdout, r.stdout)
    # and with only the data directory, as an operator on the machine would
    r = run([BINARY, "projects", "list"], env={"PATH": env["PATH"], "HOME": "/nonexistent",
                                                "GUARDIAN_DATA_DIR": MESH.procs[n][1]["GUARDIAN_DATA_DIR"]})
    expect(r.returncode == 0, f"guardian projects list with GUARDIAN_DATA_DIR: {r.stderr}")
    # the local admin token is not sent to another host
    r = run([BINARY, "members", "--http-addr", "192.0.2.1:7780"], env=env)
    expect(r.returncode == 2 and "no API token for" in r.stderr, f"another host without --token: {r.stderr}")
    r = run([BINARY, "tokens", "create", "--role", "viewer", "--team", "ops", "--name", "grafana"], env=env)
    expect(r.returncode == 0 and r.stdout.strip().startswith("gdn_"), f"tokens create: {r.stdout} {r.stderr}")
    r = run([BINARY, "tokens", "list"], env=env)
    expect(r.returncode == 0 and "viewer of ops" in r.stdout and "gdn_" not in r.stdout, f"tokens list: {r.stdout} {r.stderr}")


@test
def json_logs_and_one_debug_line_per_request():
    expect(MESH is not None, "the compose mesh runs")
    lines = [l for l in MESH.log("guardian-1").splitlines() if l.startswith("{")]
    expect(len(lines) > 3, "JSON log lines")
    for l in lines:
        obj = json.loads(l)
        expect({"ts", "level", "logger", "msg"} <= obj.keys(), f"fields of {l}")
    root = tempfile.mkdtemp(prefix="guardian-logs-")
    try:
        env = dict(os.environ, HOME=root, GUARDIAN_LOG_FORMAT="json", GUARDIAN_LOG_LEVEL="debug")
        p = subprocess.Popen([BINARY, "agent", "--data-dir", root + "/d", "--http-addr", "127.0.0.1:0", "--no-discovery"],
                             env=env, stdout=subprocess.DEVNULL, stderr=open(root + "/log", "w"))
        try:
            addr = eventually("the agent's address", lambda: json.load(open(root + "/d/agent.json"))["httpAddr"], 60)
            http(f"{addr}/readyz")
            def request_line():
                for l in open(root + "/log"):
                    if l.startswith("{"):
                        o = json.loads(l)
                        if o["msg"] == "http request" and o.get("route") == "/readyz":
                            return o
            o = eventually("a debug line for GET /readyz", request_line, 20)
            expect(o["level"] == "debug" and o["status"] == "200" and o["method"] == "GET", f"{o}")
        finally:
            p.terminate()
            p.wait(timeout=30)
        r = run([BINARY, "agent", "--data-dir", root + "/e", "--http-addr", "127.0.0.1:0"], env=dict(env, GUARDIAN_LOG_LEVEL="verbose"))
        expect(r.returncode == 2 and "log_level" in r.stderr and "verbose" in r.stderr, f"invalid level: {r.returncode} {r.stderr}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- monitoring ---------------------------------------------------------------------------------

@test
def prometheus_and_alertmanager_configs():
    d = os.path.join(ROOT, "configs", "prometheus")
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "rules/guardian.yml"], ["test", "rules", "tests/guardian.test.yml"]):
        r = run(["promtool"] + args, cwd=d)
        expect(r.returncode == 0, f"promtool {' '.join(args)}: {r.stdout} {r.stderr}")
    rules = yaml.safe_load(open(os.path.join(d, "rules", "guardian.yml")))
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load(open(os.path.join(d, "tests", "guardian.test.yml")))
    fired = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"] if t["exp_alerts"]}
    expect(names == fired, f"every alert has a test that fires it: untested {sorted(names - fired)}")
    r = run(["amtool", "check-config", os.path.join(ROOT, "configs", "alertmanager", "alertmanager.yml")])
    expect(r.returncode == 0, f"amtool: {r.stdout} {r.stderr}")


# --- Kubernetes ---------------------------------------------------------------------------------

@test
def kubernetes_manifests_validate():
    d = os.path.join(ROOT, "deploy", "kubernetes")
    files = sorted(glob.glob(os.path.join(d, "*.yaml")))
    plain = [f for f in files if not f.endswith(("servicemonitor.yaml", "kustomization.yaml"))]
    r = run(["kubernetes-validate", "--strict", "--quiet"] + plain)
    expect(r.returncode == 0, f"kubernetes-validate: {r.stdout} {r.stderr}")
    docs = {}
    for f in files:
        for doc in yaml.safe_load_all(open(f)):
            docs[(doc["kind"], doc["metadata"]["name"] if "metadata" in doc else "")] = doc
    sts = docs[("StatefulSet", "guardian")]
    headless = docs[("Service", sts["spec"]["serviceName"])]
    expect(headless["spec"]["clusterIP"] == "None", "the StatefulSet's service is headless")
    env = {e["name"]: e.get("value", "") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    joins = env["GUARDIAN_JOIN"].split(",")
    expect(len(joins) == sts["spec"]["replicas"], "every member is in the join list")
    for i, j in enumerate(joins):
        expect(j.startswith(f"guardian-{i}.{headless['metadata']['name']}."), f"join {j} goes through the headless Service")
    expect("GUARDIAN_CLUSTER_KEY_FILE" in env and "GUARDIAN_CLUSTER_KEY" not in env, "the key comes from the Secret's file")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    expect(c["livenessProbe"]["httpGet"]["path"] == "/livez" and c["readinessProbe"]["httpGet"]["path"] == "/readyz", "probes")
    sm = docs[("ServiceMonitor", "guardian")]
    svc = docs[("Service", "guardian")]
    expect(all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()), "the ServiceMonitor selects the Service")
    expect(any(p["name"] == sm["spec"]["endpoints"][0]["port"] for p in svc["spec"]["ports"]), "the ServiceMonitor's port is the Service's")
    expect(("PodDisruptionBudget", "guardian") in docs, "a PodDisruptionBudget")
    kustom = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
    expect(set(kustom["resources"]) == {os.path.basename(f) for f in files} - {"kustomization.yaml", "secret.yaml"}, "kustomization lists the manifests")


# --- systemd ------------------------------------------------------------------------------------

@test
def systemd_unit_verifies():
    root = tempfile.mkdtemp(prefix="guardian-unit-")
    try:
        text = open(os.path.join(ROOT, "configs", "guardian.service")).read().replace("/usr/local/bin/guardian", BINARY)
        expect("Type=notify" in text and "LoadCredential=cluster-key:" in text and "GUARDIAN_CLUSTER_KEY_FILE=%d/cluster-key" in text, "unit settings")
        unit = os.path.join(root, "guardian.service")
        open(unit, "w").write(text)
        r = run(["systemd-analyze", "verify", unit])
        expect(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), f"systemd-analyze verify: {r.stdout} {r.stderr}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@test
def systemd_notify_ready_watchdog_stopping():
    root = tempfile.mkdtemp(prefix="guardian-notify-")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(root + "/notify")
        sock.settimeout(60)
        key = run([BINARY, "keygen"]).stdout.strip()
        with open(root + "/key", "w") as f:
            f.write(key + "\n")
        env = dict(os.environ, HOME=root, NOTIFY_SOCKET=root + "/notify", WATCHDOG_USEC="400000", GUARDIAN_CLUSTER_KEY_FILE=root + "/key")
        p = subprocess.Popen([BINARY, "agent", "--data-dir", root + "/d", "--http-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0",
                              "--no-discovery"], env=env, stdout=subprocess.DEVNULL, stderr=open(root + "/log", "w"))
        try:
            got = []
            while not any(m.startswith("READY=1") for m in got):
                got.append(sock.recv(4096).decode())
            # at READY both sockets are bound: the agent wrote its HTTP address (after binding) and
            # the gossip line (after binding UDP and TCP) before it; both answer
            addr = json.load(open(root + "/d/agent.json"))["httpAddr"]
            gossip = re.search(r"mesh gossip on (\S+):(\d+)", open(root + "/log").read())
            expect(gossip is not None, "the gossip sockets were bound before READY=1")
            expect(http(f"{addr}/livez")[0] == 200, "HTTP answers at READY=1")
            socket.create_connection((gossip.group(1), int(gossip.group(2))), timeout=5).close()
            watchdogs = 0
            while watchdogs < 2:
                watchdogs += sock.recv(4096).decode() == "WATCHDOG=1"
            p.send_signal(signal.SIGTERM)
            while True:
                if sock.recv(4096).decode() == "STOPPING=1":
                    break
            expect(p.wait(timeout=30) == 0, "a clean exit after SIGTERM")
        finally:
            if p.poll() is None:
                p.kill()
        # an unreadable key file stops the start rather than letting the node run alone
        r = run([BINARY, "agent", "--data-dir", root + "/e", "--http-addr", "127.0.0.1:0"], env=dict(env, GUARDIAN_CLUSTER_KEY_FILE=root + "/missing"))
        expect(r.returncode == 2 and "cluster_key_file" in r.stderr, f"missing key file: {r.stderr}")
    finally:
        sock.close()
        shutil.rmtree(root, ignore_errors=True)


@test
def cli_help_on_every_option_and_completions():
    dump = json.loads(run([BINARY, "--experimental-dump-help"]).stdout)
    missing = []
    def walk(c, path):
        for a in c.get("arguments", []):
            if a.get("shouldDisplay", True) and not a.get("abstract") and path != "guardian help":
                missing.append(f"{path} {a.get('valueName')}")
        for sub in c.get("subcommands", []):
            walk(sub, f"{path} {sub['commandName']}")
    walk(dump["command"], "guardian")
    expect(not missing, f"options without help: {missing}")
    names = {s["commandName"] for s in dump["command"]["subcommands"]}
    expect({"teams", "tokens", "backup", "restore"} <= names, f"commands: {sorted(names)}")
    for shell, marker in (("bash", "_guardian"), ("zsh", "#compdef guardian"), ("fish", "complete -c 'guardian'")):
        r = run([BINARY, "--generate-completion-script", shell])
        expect(r.returncode == 0 and marker in r.stdout and "tokens" in r.stdout, f"{shell} completions")


# --- TLS ----------------------------------------------------------------------------------------

def make_cert(root, name, ca, days, serial):
    """A key and a certificate for 127.0.0.1 signed by `ca` (a (cert, key) pair made by make_ca)."""
    key, csr, cert = (os.path.join(root, f"{name}.{x}") for x in ("key", "csr", "pem"))
    ext = os.path.join(root, f"{name}.ext")
    open(ext, "w").write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    for args in (["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}"],
                 ["x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-set_serial", str(serial), "-days", str(days), "-out", cert, "-extfile", ext]):
        r = run(["openssl"] + args)
        expect(r.returncode == 0, f"openssl {args[0]}: {r.stderr}")
    return cert, key


def make_ca(root, name):
    cert, key = os.path.join(root, f"{name}.pem"), os.path.join(root, f"{name}.key")
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
             "-days", "30", "-subj", f"/CN={name}"])
    expect(r.returncode == 0, f"openssl CA: {r.stderr}")
    return cert, key


def peer_serial(port, ca):
    import ssl
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return int(tls.getpeercert()["serialNumber"], 16)


@test
def tls_api_between_members_cli_and_reload():
    import ssl
    root = tempfile.mkdtemp(prefix="guardian-tls-")
    procs = []
    try:
        ca = make_ca(root, "ca")
        other_ca = make_ca(root, "other-ca")
        repo = os.path.join(root, "repo")
        for args in (["init", "-q", "-b", "main", repo], ["-C", repo, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "one"]):
            expect(run(["git"] + args).returncode == 0, f"git {args}")
        key = run([BINARY, "keygen"]).stdout.strip()
        nodes = []
        for i in range(2):
            cert, k = make_cert(root, f"n{i}", ca, 20, 100 + i)
            env = dict(os.environ, HOME=os.path.join(root, f"home{i}"), GUARDIAN_TLS_CERT=cert, GUARDIAN_TLS_KEY=k, GUARDIAN_TLS_CA=ca[0],
                       GUARDIAN_CLUSTER_KEY=key, GUARDIAN_REPLICATION_FACTOR="1", GUARDIAN_PROBE_INTERVAL_MS="200",
                       GUARDIAN_PUSH_PULL_SECONDS="2", GUARDIAN_ALLOWED_LOCAL_ROOTS=root, XDG_CACHE_HOME=os.path.join(root, f"cache{i}"))
            args = [BINARY, "agent", "--data-dir", os.path.join(root, f"d{i}"), "--name", f"n{i}", "--http-addr", "127.0.0.1:0",
                    "--gossip-addr", "127.0.0.1:0", "--no-discovery"]
            if nodes:
                args += ["--join", nodes[0]["gossip"]]
            log = os.path.join(root, f"n{i}.log")
            p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
            procs.append(p)
            pointer = eventually(f"n{i} to listen", lambda d=os.path.join(root, f"d{i}"): json.load(open(d + "/agent.json")), 60)
            expect(pointer["httpAddr"].startswith("https://127.0.0.1:"), f"pointer {pointer}")
            gossip = eventually(f"n{i} gossip", lambda l=log: re.search(r"mesh gossip on (\S+)", open(l).read()), 30).group(1)
            nodes.append({"url": pointer["httpAddr"], "port": int(pointer["httpAddr"].rsplit(":", 1)[1]), "env": env, "gossip": gossip,
                          "token": open(os.path.join(root, f"d{i}", "admin.token")).read().strip(), "cert": cert, "key": k, "proc": p})
        ctx = ssl.create_default_context(cafile=ca[0])

        def get(node, path, method="GET", body=None):
            req = urllib.request.Request(node["url"] + path, method=method, data=body,
                                         headers={"Authorization": f"Bearer {node['token']}", "Content-Type": "application/json"})
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status, dict(r.headers), json.loads(r.read() or b"{}")

        eventually("two members alive", lambda: len([m for m in get(nodes[0], "/v1/members")[2]["members"] if m["status"] == "alive"]) == 2, 60)
        # plain HTTP on the HTTPS port gets no answer
        try:
            urllib.request.urlopen(nodes[0]["url"].replace("https://", "http://") + "/livez", timeout=5)
            raise AssertionError("plain HTTP was answered")
        except (urllib.error.URLError, OSError):
            pass
        # a project owned by one member, read through the other: the member forwards over HTTPS and verifies against tls_ca
        status, _, project = get(nodes[0], "/v1/projects", "POST", json.dumps({"repositoryUrl": repo, "name": "tlsrepo"}).encode())
        expect(status == 201, f"register: {status} {project}")
        def served():
            for n in nodes:
                st, headers, _ = get(n, f"/v1/projects/{project['id']}/audit-status")
                by = headers.get("X-Guardian-Served-By")
                if st == 200 and by and by != n["url"] and by != f"n{nodes.index(n)}":
                    return by
            return None
        eventually("a project read through the member that does not own it", served, 30)

        # the CLI: --ca verifies; without it the certificate is refused and said so
        cli_env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent"}
        r = run([BINARY, "members", "--http-addr", nodes[1]["url"], "--token", nodes[1]["token"]], env=cli_env)
        expect(r.returncode == 2 and "certificate" in r.stderr and "--ca" in r.stderr, f"without --ca: {r.returncode} {r.stderr}")
        r = run([BINARY, "members", "--http-addr", nodes[1]["url"], "--token", nodes[1]["token"], "--ca", ca[0]], env=cli_env)
        expect(r.returncode == 0 and "n0" in r.stdout, f"with --ca: {r.stderr}")
        r = run([BINARY, "members", "--http-addr", nodes[1]["url"], "--token", nodes[1]["token"], "--ca", other_ca[0]], env=cli_env)
        expect(r.returncode == 2, "a certificate of another CA is refused")
        # from the agent's own home, the CLI finds the address, scheme and CA the agent wrote
        r = run([BINARY, "members"], env={"PATH": os.environ["PATH"], "HOME": nodes[1]["env"]["HOME"]})
        expect(r.returncode == 0 and "n1" in r.stdout, f"the local agent over HTTPS: {r.stderr}")

        # SIGHUP: a renewed certificate serves new connections, and the expiry metric follows it
        expect(peer_serial(nodes[1]["port"], ca[0]) == 101, "the first certificate")
        before = float(re.search(r"^guardian_tls_certificate_expiry_timestamp_seconds (\S+)", get_text(nodes[1], ctx), re.M).group(1))
        renewed, renewed_key = make_cert(root, "n1-renewed", ca, 60, 201)
        shutil.copy(renewed, nodes[1]["cert"])
        shutil.copy(renewed_key, nodes[1]["key"])
        nodes[1]["proc"].send_signal(signal.SIGHUP)
        eventually("the renewed certificate on new connections", lambda: peer_serial(nodes[1]["port"], ca[0]) == 201, 20)
        after = float(re.search(r"^guardian_tls_certificate_expiry_timestamp_seconds (\S+)", get_text(nodes[1], ctx), re.M).group(1))
        expect(after - before > 30 * 86400, f"expiry moved from {before} to {after}")
        # a broken pair on the next reload keeps the one in use
        open(nodes[1]["key"], "w").write("not a key\n")
        nodes[1]["proc"].send_signal(signal.SIGHUP)
        eventually("the failed reload logged", lambda: "TLS reload failed" in open(os.path.join(root, "n1.log")).read(), 20)
        expect(peer_serial(nodes[1]["port"], ca[0]) == 201, "the certificate in use is kept")
        # a certificate without its key stops the start
        r = run([BINARY, "agent", "--data-dir", os.path.join(root, "bad"), "--http-addr", "127.0.0.1:0"],
                env=dict(os.environ, HOME=root, GUARDIAN_TLS_CERT=nodes[0]["cert"]))
        expect(r.returncode == 2 and "tls_key" in r.stderr, f"a certificate alone: {r.stderr}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(root, ignore_errors=True)


def get_text(node, ctx):
    with urllib.request.urlopen(node["url"] + "/metrics", context=ctx, timeout=10) as r:
        return r.read().decode()


def main():
    if not os.access(BINARY, os.X_OK):
        print(f"no guardian binary at {BINARY}: run swift build first", file=sys.stderr)
        return 2
    tests = [compose_file_is_valid, compose_nodes_form_a_mesh_as_processes, dashboard_and_rules_query_only_exported_metrics,
             cli_finds_the_running_agent_from_another_shell, json_logs_and_one_debug_line_per_request, prometheus_and_alertmanager_configs,
             kubernetes_manifests_validate, systemd_unit_verifies, systemd_notify_ready_watchdog_stopping,
             cli_help_on_every_option_and_completions, tls_api_between_members_cli_and_reload]
    try:
        for t in tests:
            t()
    finally:
        if MESH:
            MESH.stop()
    print(f"{len(tests) - len(FAILURES)} passed, {len(FAILURES)} failed" + (f": {', '.join(FAILURES)}" if FAILURES else ""))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
