#!/usr/bin/python3
"""Compare two per-step operator profiles written by `dlcm_bench_step --ops-profile` and
`bench/py_dlcm.py --ops-profile`: calls and self time per operator, largest differences first.

    /usr/bin/python3 bench/compare_ops.py CPP.json PY.json [--top 30] [--sort calls|self]
"""
import argparse
import json

ap = argparse.ArgumentParser()
ap.add_argument("cpp")
ap.add_argument("py")
ap.add_argument("--top", type=int, default=30)
ap.add_argument("--sort", choices=["calls", "self", "diff"], default="self")
a = ap.parse_args()
A, B = json.load(open(a.cpp)), json.load(open(a.py))
names = set(A["ops"]) | set(B["ops"])
z = dict(calls=0.0, self_us=0.0, incl_us=0.0)
rows = []
for n in names:
    x, y = A["ops"].get(n, z), B["ops"].get(n, z)
    rows.append((n, x["calls"], y["calls"], x["self_us"], y["self_us"]))
key = {"calls": lambda r: -max(r[1], r[2]), "self": lambda r: -max(r[3], r[4]),
       "diff": lambda r: -abs(r[3] - r[4])}[a.sort]
rows.sort(key=key)
tot = lambda D, k: sum(o[k] for o in D["ops"].values())
print(f"per step: C++ {tot(A, 'calls'):.0f} op records, {tot(A, 'self_us') / 1e3:.1f} ms self; "
      f"Python {tot(B, 'calls'):.0f} op records, {tot(B, 'self_us') / 1e3:.1f} ms self")
print(f"{'operator':<60} {'C++ calls':>10} {'Py calls':>10} {'C++ self ms':>12} {'Py self ms':>11}")
for n, c1, c2, s1, s2 in rows[: a.top]:
    print(f"{n[:60]:<60} {c1:10.1f} {c2:10.1f} {s1 / 1e3:12.2f} {s2 / 1e3:11.2f}")
