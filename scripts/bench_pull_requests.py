#!/usr/bin/env python3
"""Pull requests on a real agent (docs/pull-requests.md; figures in docs/benchmarks.md).

  bench_pull_requests.py [--pushes 50]

One agent (GUARDIAN_BIN, default .build/release/guardian) with swift-nio (a clone of the
machine's package mirror) registered with a code host API on loopback that answers as GitHub's
does. A branch gets one-file commits; each is published as refs/pull/1/head and announced by a
signed pull_request webhook, and the time from the webhook to the commit status arriving at the
host is measured. Prints p50, p99 and the slowest, and the summary comments on the request
(the bar: exactly one, however many pushes).
"""
import argparse, hashlib, hmac, json, os, re, shutil, statistics, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_alerts as kit  # noqa: E402  (the agent and wait helpers, and the bench's temporary root)

TOKEN = "ghp-bench"
SECRET = "bench-secret"


class GitHub:
    """Commit statuses, issue comments and review comments, kept in memory; each status's arrival time by commit."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses, self.comments, self.reviews, self.next_id, self.refused = {}, [], [], 100, 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, status, obj=None):
                data = json.dumps(obj if obj is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_call(self, method):
                n = int(self.headers.get("Content-Length", 0) or 0)
                body = json.loads(self.rfile.read(n) or b"{}") if n else {}
                path = self.path.split("?")[0]
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    with host.lock:
                        host.refused += 1
                    return self.answer(401, {"message": "Bad credentials"})
                with host.lock:
                    if method == "POST" and (m := re.fullmatch(r"/repos/o/r/statuses/([0-9a-f]{40})", path)):
                        host.statuses.setdefault(m.group(1), []).append((time.time(), body))
                        return self.answer(201, {"id": 1})
                    if method == "GET" and re.fullmatch(r"/repos/o/r/issues/\d+/comments", path):
                        return self.answer(200, [{"id": c["id"], "body": c["body"]} for c in host.comments])
                    if method == "POST" and re.fullmatch(r"/repos/o/r/issues/\d+/comments", path):
                        host.next_id += 1
                        host.comments.append({"id": host.next_id, "body": body["body"]})
                        return self.answer(201, {"id": host.next_id})
                    if (m := re.fullmatch(r"/repos/o/r/issues/comments/(\d+)", path)) and method in ("PATCH", "DELETE"):
                        for c in host.comments:
                            if c["id"] == int(m.group(1)):
                                if method == "PATCH":
                                    c["body"] = body["body"]
                                else:
                                    host.comments.remove(c)
                                return self.answer(200, {})
                        return self.answer(404, {"message": "Not Found"})
                    if method == "GET" and re.fullmatch(r"/repos/o/r/pulls/\d+/comments", path):
                        return self.answer(200, [{"body": r["body"]} for r in host.reviews])
                    if method == "POST" and re.fullmatch(r"/repos/o/r/pulls/\d+/comments", path):
                        host.reviews.append(body)
                        return self.answer(201, {"id": 1})
                return self.answer(404, {"message": "Not Found"})

            def do_GET(self):
                self.handle_call("GET")

            def do_POST(self):
                self.handle_call("POST")

            def do_PATCH(self):
                self.handle_call("PATCH")

            def do_DELETE(self):
                self.handle_call("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pushes", type=int, default=50)
    args = ap.parse_args()
    host = GitHub()
    agent = kit.Agent("solo", {"GUARDIAN_ALLOWED_LOCAL_ROOTS": kit.ROOT, "GUARDIAN_ALERT_ALLOW_PRIVATE_TARGETS": "on",
                               "GUARDIAN_DISCOVERY": "off", "XDG_CACHE_HOME": kit.ROOT + "/cache"}).start()
    try:
        checkout = os.path.join(kit.ROOT, "swift-nio")
        subprocess.run(["git", "clone", "-q", "https://github.com/apple/swift-nio.git", checkout], check=True)
        git = lambda *a: subprocess.run(["git", "-C", checkout, *a], check=True, capture_output=True, text=True).stdout.strip()
        git("config", "user.email", "bench@example.com")
        git("config", "user.name", "bench")
        main_branch = git("rev-parse", "--abbrev-ref", "HEAD")
        s, p = agent.api("POST", "/v1/projects", {"repositoryUrl": checkout, "name": "nio", "team": "nio", "webhookSecret": SECRET,
                                                  "scheduleSeconds": 0,
                                                  "codeHost": {"provider": "github", "apiUrl": host.base, "repository": "o/r", "token": TOKEN}})
        assert s == 201, (s, p)
        pid = p["id"]
        kit.wait("swift-nio's first result", lambda: "resultId" in agent.api("GET", f"/v1/projects/{pid}/audit-status")[1], 300, every=0.2)
        git("checkout", "-q", "-b", "feature")
        source = next(f for f in git("ls-files", "Sources/NIOCore/*.swift").splitlines())

        def push(i, action):
            with open(f"{checkout}/{source}", "a") as f:
                f.write(f"\nfunc benchPullRequest{i}() -> Int {{ {i} }}\n")
            git("commit", "-qam", f"bench: push {i}")
            sha = git("rev-parse", "HEAD")
            git("update-ref", "refs/pull/1/head", sha)
            body = json.dumps({"action": action, "number": 1,
                               "pull_request": {"number": 1, "head": {"sha": sha}, "base": {"ref": main_branch}},
                               "repository": {"clone_url": checkout}}).encode()
            sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            start = time.time()
            status, answer = agent.api("POST", f"/v1/hooks/github/{pid}", body,
                                       headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": f"pr-{i}", "X-Hub-Signature-256": sig})
            assert status == 202, (status, answer)
            kit.wait(f"the status of push {i}", lambda: sha in host.statuses, 120, every=0.005)
            return (host.statuses[sha][0][0] - start) * 1000, host.statuses[sha][0][1]

        push(0, "opened")  # the first audit of the request reads the branch's facts from the cache
        push(1, "synchronize")
        times, states = [], set()
        for i in range(2, 2 + args.pushes):
            ms, status = push(i, "synchronize")
            times.append(ms)
            states.add(status.get("state"))
        kit.wait("the last comment", lambda: any(f"`{git('rev-parse', 'HEAD')[:10]}`" in c["body"] for c in host.comments), 30)
        print(f"pull requests (swift-nio, one-file pushes, {len(times)} measured): webhook to commit status "
              f"p50 {statistics.median(times):.0f} ms, p99 {kit.percentile(times, 99):.0f} ms, max {max(times):.0f} ms "
              f"(bar: p99 <= 2,000 ms); states {sorted(states)}")
        print(f"  summary comments on the request after {args.pushes + 2} pushes: {len(host.comments)} (bar: exactly 1); "
              f"review comments {len(host.reviews)}; refused calls {host.refused}")
    finally:
        agent.close()
        host.close()
        shutil.rmtree(kit.ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
