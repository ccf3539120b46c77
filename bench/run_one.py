#!/usr/bin/python3
"""Runs one benchmark command that prints a JSON line, and adds what the machine was doing meanwhile.

    /usr/bin/python3 bench/run_one.py [--wait-idle S] [--tag KEY=VALUE ...] -- CMD ARGS...

Adds to the command's JSON object:
  foreign_cpu   CPU time of *other* processes during the run, as a share of all cores
                (busy time from /proc/stat minus the child's own user+sys, over wall × cores):
                0 on an idle machine, 0.5 when another process kept one of two cores busy.
  busy_before   share of all cores busy in a 0.5 s sample just before the run.
  child_cpu_s, wall_s, minflt (minor page faults), majflt, maxrss_kb   of the child process.
--wait-idle S: before starting, wait up to S seconds for a 0.5 s sample with < 15% of the cores busy
(then run anyway), so that side-by-side runs start on as quiet a machine as the moment allows.
The summary line on stderr shows tok/s, step time, foreign_cpu and page faults.
"""
import json
import os
import subprocess
import sys
import time


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v[:8]) - idle, sum(v[:8])  # busy, total (jiffies, all cores; no guest double count)


def busy_share(dt=0.5):
    b0, t0 = cpu_times()
    time.sleep(dt)
    b1, t1 = cpu_times()
    return (b1 - b0) / max(1, t1 - t0)


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    cut = argv.index("--")
    opts, cmd = argv[:cut], argv[cut + 1:]
    tags, wait_idle = {}, 0.0
    i = 0
    while i < len(opts):
        if opts[i] == "--tag":
            k, _, v = opts[i + 1].partition("=")
            try:
                v = json.loads(v)
            except ValueError:
                pass
            tags[k] = v
            i += 2
        elif opts[i] == "--wait-idle":
            wait_idle = float(opts[i + 1])
            i += 2
        else:
            sys.exit(f"run_one.py: unknown option {opts[i]}")
    deadline = time.time() + wait_idle
    busy = busy_share()
    while busy > 0.15 and time.time() < deadline:
        busy = busy_share()
    hz = os.sysconf("SC_CLK_TCK")
    b0, _ = cpu_times()
    w0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.time() - w0
    b1, _ = cpu_times()
    if status != 0:
        sys.stderr.write(out.decode(errors="replace"))
        sys.exit(f"run_one.py: {' '.join(cmd)} failed (status {status})")
    lines = [l for l in out.decode().splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"run_one.py: {' '.join(cmd)} printed no JSON line")
    d = json.loads(lines[-1])
    child = ru.ru_utime + ru.ru_stime
    ncpu = os.cpu_count()
    d.update(tags)
    d.update(foreign_cpu=max(0.0, ((b1 - b0) / hz - child) / (wall * ncpu)), busy_before=busy, child_cpu_s=child,
             wall_s=wall, minflt=ru.ru_minflt, majflt=ru.ru_majflt, maxrss_kb=ru.ru_maxrss)
    print(json.dumps(d))
    label = " ".join(f"{k}={v}" for k, v in tags.items())
    extra = f"  MFU {d['mfu_vs_matmul']:.3f}" if "mfu_vs_matmul" in d else ""
    sys.stderr.write(f"{label:<46} {d.get('impl', ''):<6} {d['tokens_per_second']:8.0f} tok/s  "
                     f"step {d['step_seconds_median']:.4f} s (sd {d['step_seconds_stdev']:.4f})  "
                     f"foreign cpu {d['foreign_cpu']:.2f}  faults {ru.ru_minflt}{extra}\n")


if __name__ == "__main__":
    main()
