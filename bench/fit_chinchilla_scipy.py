"""Python side of bench/fit_chinchilla.sh: the 4500-start Chinchilla fit done the usual way,
scipy L-BFGS-B with an analytic gradient on the same objective (sum of Huber losses, delta=1e-3,
on log residuals; log-sum-exp form, Hoffmann et al. 2022 Approach 3). Prints one JSON line."""
import argparse
import itertools
import json
import time

import numpy as np
from scipy.optimize import minimize


def objective_and_gradient(theta, log_n, log_d, log_loss, delta):
    e, a, b, alpha, beta = theta
    terms = np.stack([np.full_like(log_n, e), a - alpha * log_n, b - beta * log_d])
    m = terms.max(axis=0)
    w = np.exp(terms - m)
    s = w.sum(axis=0)
    r = m + np.log(s) - log_loss
    quadratic = np.abs(r) <= delta
    f = np.where(quadratic, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta)).sum()
    dr = np.where(quadratic, r, delta * np.sign(r)) / s  # dHuber/dr times the softmax denominator
    g = np.array([
        (dr * w[0]).sum(),
        (dr * w[1]).sum(),
        (dr * w[2]).sum(),
        -(dr * w[1] * log_n).sum(),
        -(dr * w[2] * log_d).sum(),
    ])
    return f, g


def hoffmann_grid():
    return itertools.product(np.arange(-1, 1.01, 0.5), np.arange(0, 26, 5), np.arange(0, 26, 5),
                             np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--delta", type=float, default=1e-3)
    ap.add_argument("--tight", action="store_true",
                    help="ftol=0, gtol=1e-12, maxiter=10000 instead of scipy's defaults")
    args = ap.parse_args()
    data = np.genfromtxt(args.table, delimiter=",", names=True)
    log_n, log_d, log_loss = np.log(data["N"]), np.log(data["D"]), np.log(data["loss"])
    options = {"ftol": 0.0, "gtol": 1e-12, "maxiter": 10000} if args.tight else {}

    t0, cpu0 = time.perf_counter(), time.process_time()
    best, iterations = None, 0
    starts = list(hoffmann_grid())
    for x0 in starts:
        res = minimize(objective_and_gradient, np.array(x0, dtype=float), jac=True, method="L-BFGS-B",
                       args=(log_n, log_d, log_loss, args.delta), options=options)
        iterations += res.nit
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    e, a, b, alpha, beta = best.x
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "objective": float(best.fun), "starts": len(starts),
                      "mean_iterations": iterations / len(starts),
                      "params": [float(np.exp(e)), float(np.exp(a)), float(np.exp(b)), float(alpha),
                                 float(beta)]}))


if __name__ == "__main__":
    main()
