#!/usr/bin/env python3
"""Precision of Guardian's findings on real code the project did not write (docs/precision.md).

Audits every repository of bench/precision/corpus.txt with the release binary, joins the findings
with the verdicts of bench/precision/labels.tsv, and prints precision per rule and overall, the
gate of each repository, and the labelled true findings that are no longer reported (recall lost).

  scripts/bench_precision.py                 report (what `make bench-precision` runs)
  scripts/bench_precision.py --no-planted     without the planted-fixture recall (which builds the tests)
  scripts/bench_precision.py --worksheet N   also write up to N unlabelled findings per rule,
                                             spread over the repositories, with their code, to
                                             bench-work/precision/worksheet.jsonl for labelling
"""
import argparse
import collections
import csv
import hashlib
import json
import os
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/guardian")
CORPUS = os.path.join(ROOT, "bench/precision/corpus.txt")
LABELS = os.path.join(ROOT, "bench/precision/labels.tsv")
WORK = os.path.join(ROOT, "bench-work/precision")
FETCHED = os.environ.get("GUARDIAN_FETCHED", "/work/.mirror")
LABEL_FIELDS = ["repo", "rule", "file", "line", "fingerprint", "verdict", "reason"]


def run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def corpus():
    out = []
    for raw in open(CORPUS):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, source, version = line.split()
        name = source.split("/")[-1]
        out.append({"kind": kind, "source": source, "version": version,
                    "id": name + ("@history" if kind == "history" else "")})
    return out


def prepare(entry):
    """The path of the entry's source on this machine, or None (with the reason printed)."""
    dest = os.path.join(WORK, "src", entry["id"])
    if os.path.isdir(dest):
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    kind, source, version = entry["kind"], entry["source"], entry["version"]
    if kind == "mirror":
        run(["git", "clone", "-q", "--branch", version, f"https://github.com/{source}.git", dest])
    elif kind == "history":
        bare = os.path.join(FETCHED, source.replace("/", "+"), "repo")
        if not os.path.isdir(bare):
            print(f"  {entry['id']}: skipped, no full-history clone at {bare} (bring it with the tool library's fetch)")
            return None
        run(["git", "clone", "-q", bare, dest])
    elif kind == "pypi":
        dl = os.path.join(WORK, "sdists")
        os.makedirs(dl, exist_ok=True)
        run([sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", "-d", dl, f"{source}=={version}"])
        tar = next(os.path.join(dl, f) for f in os.listdir(dl) if f.lower().startswith(f"{source.lower()}-{version}") and f.endswith(".tar.gz"))
        tmp = dest + ".tmp"
        with tarfile.open(tar) as t:
            t.extractall(tmp, filter="data")
        (top,) = os.listdir(tmp)
        os.rename(os.path.join(tmp, top), dest)
        os.rmdir(tmp)
    else:
        raise SystemExit(f"{CORPUS}: unknown kind {kind}")
    return dest


def audit(path):
    p = subprocess.run([BIN, "audit", path, "--format", "json", "--no-cache"], capture_output=True, text=True)
    if p.returncode > 1:
        raise SystemExit(f"guardian audit {path} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def findings(report):
    for check, result in report["magicResults"].items():
        for v in result.get("violations", []):
            if v.get("suppression"):
                continue
            yield check, v


def load_labels():
    if not os.path.exists(LABELS):
        return {}
    out = {}
    with open(LABELS, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["verdict"] not in ("true", "false"):
                raise SystemExit(f"{LABELS}: verdict must be true or false: {row}")
            out[(row["repo"], row["fingerprint"])] = row
    return out


def context(path, file, line, radius=8):
    try:
        lines = open(os.path.join(path, file), errors="replace").read().split("\n")
    except OSError:
        return ""
    lo, hi = max(1, line - radius), min(len(lines), line + radius)
    return "\n".join(f"{n:5d}{'>' if n == line else ' '} {lines[n - 1]}" for n in range(lo, hi + 1))


def planted_recall():
    """Recall on the planted fixtures: every finding planted in Tests/GuardianAuditTests must be found."""
    source = open(os.path.join(ROOT, "Tests/GuardianAuditTests/AuditTests.swift")).read()
    planted = source.count("expectFinding(r, ")
    p = subprocess.run(["swift", "test", "--disable-xctest", "--filter", "PlantedAuditTests"], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    missed = [l for l in p.stdout.splitlines() if "expected " in l and "recorded an issue" in l]
    print(f"\n== Recall on the planted fixtures: {planted - len(missed)} of {planted} planted findings found"
          + ("" if p.returncode == 0 else f" (PlantedAuditTests failed: {len(missed)} missed)"))
    for l in missed[:20]:
        print(f"  {l.strip()[:200]}")


class Tally:
    """Findings above info by rule and verdict, the info ones, and the gate failures, over the corpus."""

    def __init__(self, labels):
        self.labels = labels
        self.seen = set()
        self.by_rule = collections.defaultdict(lambda: {"fired": 0, "true": 0, "false": 0})
        self.unlabelled = collections.defaultdict(list)
        self.advisory = collections.Counter()
        self.demoted = set()
        self.gates = []

    def add(self, entry, path, report):
        """Counts one audited corpus entry; returns the number of findings above info."""
        count = 0
        verdicts_by_check = collections.defaultdict(lambda: [0, 0])
        for check, v in findings(report):
            key = (entry["id"], v["fingerprint"])
            if v["severity"] == "info":
                # advisory: counts for nothing in scores or the gate, and claims no defect
                self.advisory[v["ruleId"]] += 1
                self.demoted.add(key)
                continue
            count += 1
            verdict = self.count(v["ruleId"], key)
            if verdict is None:
                self.unlabelled[v["ruleId"]].append((entry, path, check, v))
            else:
                verdicts_by_check[check][0 if verdict == "true" else 1] += 1
        if not report["gate"]["passed"]:
            for reason in report["gate"]["reasons"]:
                check = reason.split()[0]
                t, f = verdicts_by_check.get(check, [0, 0])
                self.gates.append(f"{entry['id']}: {reason}; labelled findings of {check}: {t} true, {f} false")
        return count

    def count(self, rule, key):
        stat = self.by_rule[rule]
        stat["fired"] += 1
        if key not in self.labels:
            return None
        self.seen.add(key)
        verdict = self.labels[key]["verdict"]
        stat[verdict] += 1
        return verdict


def print_precision(t):
    print("\n== Precision by rule (labelled findings)")
    print(f"  {'rule':<40} {'fired':>6} {'labelled':>8} {'true':>5} {'false':>5} {'precision':>9}")
    total_t = total_f = 0
    below = []
    for rule in sorted(t.by_rule):
        s = t.by_rule[rule]
        n = s["true"] + s["false"]
        total_t += s["true"]
        total_f += s["false"]
        prec = f"{100 * s['true'] / n:.0f}%" if n else "-"
        if n and s["true"] / n < 0.85:
            below.append(rule)
        print(f"  {rule:<40} {s['fired']:>6} {n:>8} {s['true']:>5} {s['false']:>5} {prec:>9}")
    n = total_t + total_f
    print(f"\n  overall: {total_t} of {n} labelled findings true: "
          + (f"{100 * total_t / n:.1f}% precision" if n else "no labels"))
    fired = sum(s["fired"] for s in t.by_rule.values())
    print(f"  findings reported: {fired}, of them labelled: {n}, unlabelled: {fired - n}")
    print(f"  rules below 85%: {', '.join(below) if below else 'none'}")
    print(f"  info (advisory, not counted): {sum(t.advisory.values())} findings: "
          + ", ".join(f"{r} {n}" for r, n in sorted(t.advisory.items())))


def print_recall(t):
    info = [row for key, row in t.labels.items() if key in t.demoted]
    print(f"\n== Labelled findings now info: {len(info)} ({sum(r['verdict'] == 'false' for r in info)} false, "
          f"{sum(r['verdict'] == 'true' for r in info)} true)")
    gone = [row for key, row in t.labels.items() if key not in t.seen and key not in t.demoted]
    lost = [row for row in gone if row["verdict"] == "true"]
    print(f"\n== Labelled findings no longer reported: {len(gone)} ({len(gone) - len(lost)} false, {len(lost)} true)")
    for row in lost:
        print(f"  recall lost: {row['repo']} {row['rule']} {row['file']}:{row['line']} ({row['reason']})")
    print("\n== Gate failures")
    for g in t.gates or ["none"]:
        print(f"  {g}")


def pick_spread(items, limit):
    """Up to `limit` items, spread over repositories, in a stable order."""
    items.sort(key=lambda it: hashlib.sha256((it[0]["id"] + it[3]["fingerprint"]).encode()).hexdigest())
    per_repo = collections.defaultdict(list)
    for it in items:
        per_repo[it[0]["id"]].append(it)
    picked = []
    while len(picked) < limit and any(per_repo.values()):
        for repo in sorted(per_repo):
            if per_repo[repo] and len(picked) < limit:
                picked.append(per_repo[repo].pop(0))
    return picked


def write_worksheet(t, limit):
    out = os.path.join(WORK, "worksheet.jsonl")
    written = 0
    with open(out, "w") as f:
        for rule, items in sorted(t.unlabelled.items()):
            for entry, path, check, v in pick_spread(items, limit):
                line = v.get("line") or 0
                f.write(json.dumps({"repo": entry["id"], "source": path, "rule": rule, "severity": v["severity"],
                                    "file": v.get("file", ""), "line": line, "fingerprint": v["fingerprint"],
                                    "message": v["message"],
                                    "code": context(path, v["file"], line) if v.get("file") and line else ""}) + "\n")
                written += 1
    print(f"\nworksheet: {written} unlabelled findings in {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worksheet", type=int, default=0, help="write up to N unlabelled findings per rule")
    ap.add_argument("--no-planted", action="store_true", help="skip the planted-fixture recall (it builds the tests)")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        raise SystemExit("no release binary: run `make release` first")
    tally = Tally(load_labels())
    print("== Precision corpus (bench/precision/corpus.txt)")
    for entry in corpus():
        path = prepare(entry)
        if path is None:
            continue
        report = audit(path)
        count = tally.add(entry, path, report)
        print(f"  {entry['id']:<28} {count:5d} findings above info, gate {'passed' if report['gate']['passed'] else 'failed'}")
    print_precision(tally)
    print_recall(tally)
    if not args.no_planted:
        planted_recall()
    if args.worksheet:
        write_worksheet(tally, args.worksheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
