#!/usr/bin/python3
"""Causal attention forward + backward on LibTorch 1.13's CPU paths, at the model's shapes.

    /usr/bin/python3 bench/attention.py [--threads 2] [--reps 20]

  sdpa     what src/model/model.cpp does: q *= scale·√dh, then aten::_scaled_dot_product_attention(
           is_causal=True). In 1.13 that is the math path: a fresh [T,T] bool mask, turned into an
           additive float mask (zeros_like, logical_not, masked_fill), q and kᵀ each divided by
           dh^¼, a full (not causal) [B·H,T,T] score bmm, add_ of the mask, softmax, bmm with v.
  baddbmm  the same maths by hand with a cached additive mask: one baddbmm (mask + α·q kᵀ,
           the scale folded into α), softmax, bmm.
Both give the same output (checked). Reports median milliseconds per fwd+bwd, and the FLOP rate of
the two products counted as executed (full square) against a 2048² matmul in the same process.
"""
import argparse
import math
import statistics
import time

import torch


def sdpa(q, k, v, scale):
    q = q * (scale * math.sqrt(q.size(3)))
    return torch.ops.aten._scaled_dot_product_attention(q, k, v, None, 0.0, False, True)[0]


_masks = {}


def manual(q, k, v, scale):
    B, H, T, dh = q.shape
    m = _masks.get(T)
    if m is None:
        m = torch.full((T, T), float("-inf")).triu(1)
        _masks[T] = m
    s = torch.baddbmm(m, q.reshape(B * H, T, dh), k.reshape(B * H, T, dh).transpose(1, 2), beta=1.0, alpha=scale)
    return torch.bmm(torch.softmax(s, -1), v.reshape(B * H, T, dh)).view(B, H, T, dh)


def timeit(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    n = 2048
    x = torch.randn(n, n)
    mm = 2 * n ** 3 / min(timeit(lambda: torch.mm(x, x), 3) for _ in range(3))
    print(f"threads {a.threads}; 2048² matmul {mm / 1e9:.0f} GFLOP/s")
    print(f"{'shape (B,H,T,dh)':<22} {'impl':<8} {'fwd+bwd ms':>10} {'GFLOP/s':>8} {'vs matmul':>9}")
    for (B, H, T, dh) in [(16, 4, 256, 16), (16, 4, 256, 32), (16, 4, 128, 64)]:
        torch.manual_seed(0)
        q0, k0, v0 = (torch.randn(B, H, T, dh) for _ in range(3))
        scale = 1 / math.sqrt(dh)
        ref = sdpa(q0, k0, v0, scale)
        assert torch.allclose(ref, manual(q0, k0, v0, scale), atol=1e-5), "implementations differ"
        # executed multiply-adds: QKᵀ and AV over the full square, forward 2 products, backward 4
        flops = 2 * (2 + 4) * B * H * T * T * dh
        for name, f in (("sdpa", sdpa), ("baddbmm", manual)):
            q, k, v = (t.clone().requires_grad_() for t in (q0, k0, v0))
            g = torch.randn_like(ref)

            def step():
                q.grad = k.grad = v.grad = None
                f(q, k, v, scale).backward(g)

            s = timeit(step, a.reps)
            print(f"{str((B, H, T, dh)):<22} {name:<8} {s * 1e3:10.2f} {flops / s / 1e9:8.1f} {flops / s / mm:9.3f}")


if __name__ == "__main__":
    main()
