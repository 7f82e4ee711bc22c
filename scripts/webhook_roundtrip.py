#!/usr/bin/env python3
"""Webhook to stored result on a running agent, end to end (scripts/bench-agent.sh, bench-compare.sh).

  webhook_roundtrip.py PORT TOKEN REPOSITORY CHECKOUT

Clones REPOSITORY into CHECKOUT, registers it with a webhook secret, waits for its first signed
result, commits a one-file change, sends GitHub's push webhook (signed with the secret) and
prints the time until the agent acknowledged it and until the result of that commit was stored.
"""
import hashlib, hmac, json, subprocess, sys, time, urllib.request

port, token, repository, checkout = sys.argv[1:5]
base, secret = f"http://127.0.0.1:{port}", "bench-secret"


def call(method, path, body=None, headers=None):
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(base + path, data=body, method=method, headers=h)
    with urllib.request.urlopen(req) as r:
        return r.status, json.load(r) if r.headers.get("Content-Type", "").startswith("application/json") else None


def git(*args):
    return subprocess.run(["git", "-C", checkout, *args], check=True, capture_output=True, text=True).stdout.strip()


subprocess.run(["git", "clone", "-q", repository, checkout], check=True)
git("config", "user.email", "bench@example.com")
git("config", "user.name", "bench")
_, project = call("POST", "/v1/projects", json.dumps({"repositoryUrl": checkout, "name": "bench", "webhookSecret": secret,
                                                      "scheduleSeconds": 0}).encode())
pid = project["id"]
while "resultId" not in call("GET", f"/v1/projects/{pid}/audit-status")[1]:
    time.sleep(0.2)
source = next(f for f in git("ls-files", "Sources/*.swift").splitlines())
with open(f"{checkout}/{source}", "a") as f:
    f.write("\nfunc benchWebhookAdded() -> Int { 1 }\n")
git("commit", "-qam", "bench: one-file push")
sha = git("rev-parse", "HEAD")
body = json.dumps({"ref": "refs/heads/main", "after": sha, "repository": {"clone_url": checkout}}).encode()
signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
start = time.time()
status, _ = call("POST", f"/v1/hooks/github/{pid}", body, {"X-GitHub-Event": "push", "X-GitHub-Delivery": f"bench-{start}",
                                                            "X-Hub-Signature-256": signature})
ack = time.time() - start
while call("GET", f"/v1/projects/{pid}/audit-status")[1].get("commit") != sha:
    time.sleep(0.01)
print(f"webhook acknowledged in {ack * 1000:.0f} ms (status {status}); signed result stored after {(time.time() - start) * 1000:.0f} ms")
