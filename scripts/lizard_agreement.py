#!/usr/bin/env python3
"""Compares Guardian's per-function cyclomatic complexity with lizard's CSV output.

Functions are matched by (file, start line). Prints the share of matched functions whose CCN is
equal, the functions only one tool found, and the largest disagreements for inspection.
"""
import csv
import os
import sys


def main():
    guardian_csv, lizard_csv, root = sys.argv[1], sys.argv[2], os.path.realpath(sys.argv[3])
    g = {}
    with open(guardian_csv) as f:
        for row in csv.DictReader(f):
            if not row["file"].endswith(".swift"):
                continue
            g[(row["file"], int(row["line"]))] = (int(row["ccn"]), row["name"])
    lz = {}
    with open(lizard_csv) as f:
        for row in csv.reader(f):
            # NLOC,CCN,token,PARAM,length,location,file,function,long_name,start,end
            if len(row) < 11:
                continue
            path = os.path.relpath(os.path.realpath(row[6]), root)
            lz[(path, int(row[9]))] = (int(row[1]), row[7])
    both = set(g) & set(lz)
    equal = sum(1 for k in both if g[k][0] == lz[k][0])
    print(f"guardian functions:  {len(g)}")
    print(f"lizard functions:    {len(lz)}")
    print(f"matched:             {len(both)}")
    share = 100.0 * equal / max(1, len(both))
    print(f"equal CCN:           {equal} of {len(both)} = {share:.1f}%  (bar: >= 95%)")
    diffs = sorted(((g[k][0] - lz[k][0], k) for k in both if g[k][0] != lz[k][0]), key=lambda d: -abs(d[0]))
    for d, k in diffs[:10]:
        print(f"  {k[0]}:{k[1]} {g[k][1]}: guardian {g[k][0]} lizard {lz[k][0]}")
    only_l = sorted(set(lz) - set(g))[:5]
    for k in only_l:
        print(f"  only lizard: {k[0]}:{k[1]} {lz[k][1]}")
    only_g = sorted(set(g) - set(lz))[:5]
    for k in only_g:
        print(f"  only guardian: {k[0]}:{k[1]} {g[k][1]}")


if __name__ == "__main__":
    main()
