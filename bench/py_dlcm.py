#!/usr/bin/python3
"""The DLCM proxy, its baseline and one training step, in Python on Debian's python3-torch.

A line-by-line port of src/model/model.cpp and the step of src/train/train.cpp (forward_backward,
clip_grad_norm, AdamW) so that bench/train_step.sh can time the same step on the same LibTorch from
both frontends. Run with Debian's interpreter (the `python3` on PATH may be a shim without torch):

    /usr/bin/python3 bench/py_dlcm.py --config configs/tiny-dlcm.toml --steps 20 --warmup 3 --threads 2 [--json]
        [--expect-params N] [--ops-profile OUT.json] [--foreach]
    /usr/bin/python3 bench/py_dlcm.py --golden DIR [--threads 1]

--golden is the golden test (tests/model/test_golden.cpp, docs/model.md): DIR holds cases the C++
model exported (config.toml, index.json, tensors.bin); each is recomputed here from the same weights,
batch and boundary draws and compared; the result per case goes to DIR/golden.json, exit 1 on any
mismatch.

What is the same as C++: architecture and parameter count (asserted with --expect-params), every
tensor op of the forward (RMSNorm, RoPE rotate-half, SwiGLU, grouped KV via repeat_interleave,
aten::_scaled_dot_product_attention with is_causal, cosine boundary detector with identity-initialised
projections, sharpened Bernoulli sampling (one uniform per element, as C++), scatter-add mean
pooling, concept backbone, replicated cross-attention with QK-RMSNorm and a null concept), the losses
(cross-entropy, Global Parser ratio loss incl. the deferred micro-batch form), global-norm clipping
at grad_clip, AdamW with the same parameter groups (per-group base rates, μP multipliers, ε and
decoupled weight decay in either mode), betas, and the schedule. What differs by design:
torch.optim.AdamW picks its own kernel path (in 1.13, foreach=None means the per-parameter loop on
CPU; --foreach forces the multi-tensor path), clip uses torch.nn.utils.clip_grad_norm_, and the data
windows are drawn with numpy rather than the trainer's mt19937_64 (same shape, same corpus file).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
import tomllib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --- config (defaults mirror src/core/config.hpp) -------------------------------------------------

MODEL_DEFAULTS = dict(arch="dlcm", vocab_size=256, seq_len=256, d_token=64, n_heads_token=4, n_kv_heads_token=0,
                      n_layers=4, encoder_layers=1, decoder_layers=1, d_concept=128, n_heads_concept=4,
                      n_kv_heads_concept=0, concept_layers=2, ffn_mult=8.0 / 3.0, rope_theta=10000.0,
                      init_std=0.02, parametrisation="standard", d_token_base=64, d_concept_base=128)
BOUNDARY_DEFAULTS = dict(mode="global", ratio=4.0, aux_weight=0.03, temperature=0.03, d_scan=0, smoothing="none")
TRAIN_DEFAULTS = dict(steps=200, batch_size=16, micro_batches=1, lr=3e-3, lr_token=None, lr_concept=None, lr_other=None,
                      weight_decay=0.1, weight_decay_mode="independent", beta1=0.9, beta2=0.95,
                      eps=1e-8, grad_clip=1.0, schedule="cosine", warmup_steps=20, min_lr_ratio=0.1,
                      decay_fraction=0.2, eval_every=50, eval_windows=16, checkpoint_every=100, seed=1,
                      diverge_loss=20.0)
DATA_DEFAULTS = dict(dir="", train_bin="", val_bin="", vocab_size=0)


class NS(dict):
    __getattr__ = dict.__getitem__


def load_config(path):
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    out = {}
    for sec, defaults in (("model", MODEL_DEFAULTS), ("boundary", BOUNDARY_DEFAULTS), ("train", TRAIN_DEFAULTS),
                          ("data", DATA_DEFAULTS)):
        given = raw.get(sec, {})
        unknown = set(given) - set(defaults)
        if unknown:
            sys.exit(f"{path}: {sec}.{sorted(unknown)[0]}: unknown key")
        out[sec] = NS({**defaults, **given})
    return NS(out)


def ffn_hidden(m, d):
    h = math.ceil(m.ffn_mult * d)
    return (h + 31) // 32 * 32


def kv_heads(n_heads, n_kv):
    return n_kv if n_kv > 0 else n_heads


def scan_dim(m, b):
    return b.d_scan if b.d_scan > 0 else m.d_token


def width_mults(m):
    return m.d_token / m.d_token_base, m.d_concept / m.d_concept_base


def attention_scale(m, d_head):
    return 1.0 / d_head if m.parametrisation == "mup" else 1.0 / math.sqrt(d_head)


def output_mult(m):
    return 1.0 / width_mults(m)[0] if m.parametrisation == "mup" else 1.0


def group_rule(m, group, fan_in):
    """(init_std, lr_mult, eps_mult, weight_decay) as src/core/mup.cpp."""
    sigma = m.init_std
    decays = group not in ("embedding", "vector")
    if m.parametrisation == "standard":
        return sigma, 1.0, 1.0, 1.0 if decays else 0.0
    s_tok, s_con = width_mults(m)
    if group in ("token", "backbone", "joining"):
        s = s_con if fan_in == "d_concept" else s_tok
        init = sigma / math.sqrt(s)
        if group == "joining" and fan_in == "d_concept":  # the concept stream's readout (core/mup.cpp)
            init *= math.sqrt(min(1.0, s_tok / s_con))
        return init, 1.0 / s, 1.0 / s, 1.0
    return sigma, 1.0, 1.0, 1.0 if decays else 0.0


def group_hyperparameters(m, t, group, fan_in):
    """(peak lr, eps, AdamW weight decay) as core/mup.cpp's group_hyperparameters."""
    _, lr_mult, eps_mult, decays = group_rule(m, group, fan_in)
    if group == "token" or (group == "joining" and fan_in == "d_token"):
        base = t.lr_token
    elif group == "backbone" or group == "joining":
        base = t.lr_concept
    else:
        base = t.lr_other
    base = t.lr if base is None else base
    lr = base * lr_mult
    # independent: the per-step decay lr·wd comes out as weight_decay·base, whatever the width factor.
    wd = t.weight_decay * decays * (base / lr if t.weight_decay_mode == "independent" else 1.0)
    return lr, t.eps * eps_mult, wd


def n_eff(m, b, ratio):
    """Per-token multiply-accumulates of one forward pass: core/flops.cpp's flops_per_token().n_eff()."""
    def block(d, heads, kv):
        dh = d / heads
        kvd = kv_heads(heads, kv) * dh
        return 2.0 * d * d + 2.0 * d * kvd, 3.0 * d * ffn_hidden(m, d)
    d, ctx = m.d_token, m.seq_len / 2.0
    attn_proj, ffn = block(d, m.n_heads_token, m.n_kv_heads_token)
    head = float(m.vocab_size) * d
    if m.arch == "baseline":
        return m.n_layers * (attn_proj + ffn) + head + 2.0 * m.n_layers * ctx * d
    c_proj, c_ffn = block(m.d_concept, m.n_heads_concept, m.n_kv_heads_concept)
    dh = d / m.n_heads_token
    kvd = kv_heads(m.n_heads_token, m.n_kv_heads_token) * dh
    q_o, k_v = 2.0 * d * d, 2.0 * m.d_concept * kvd
    ds = scan_dim(m, b)
    token = m.encoder_layers * (attn_proj + ffn) + 2.0 * ds * d + m.decoder_layers * (attn_proj + ffn + q_o) + head
    concept = (m.concept_layers * (c_proj + c_ffn) + float(d) * m.d_concept + m.decoder_layers * k_v) / ratio
    attention = 2.0 * (m.encoder_layers + 2 * m.decoder_layers) * ctx * d + \
        2.0 * m.concept_layers * (ctx / ratio) * m.d_concept / ratio
    return token + concept + attention


def lr_factor(t, step):
    if step < t.warmup_steps:
        return (step + 1) / t.warmup_steps
    lo = t.min_lr_ratio
    if t.schedule == "cosine":
        span = max(1.0, t.steps - t.warmup_steps)
        progress = min(max((step - t.warmup_steps) / span, 0.0), 1.0)
        return lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * progress))
    decay_steps = round(t.decay_fraction * t.steps)
    decay_start = t.steps - decay_steps
    if step < decay_start or decay_steps == 0:
        return 1.0
    progress = min(max((step - decay_start + 1) / decay_steps, 0.0), 1.0)
    return 1.0 - (1.0 - lo) * progress


# --- building blocks (src/model/model.cpp) ------------------------------------------------------


def linear(x, w):
    return torch.matmul(x, w.t())


def split_heads(x, heads):  # [B, T, H*dh] -> [B, H, T, dh]
    return x.view(x.size(0), x.size(1), heads, -1).transpose(1, 2)


def merge_heads(x):
    return x.transpose(1, 2).contiguous().view(x.size(0), x.size(2), -1)


def apply_rope(x, rope):
    cos_t, sin_t = rope
    T, half = x.size(2), x.size(3) // 2
    cos, sin = cos_t[:T], sin_t[:T]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], 3)


def causal_attention(q, k, v, scale):
    heads, kvh = q.size(1), k.size(1)
    if kvh != heads:
        k = k.repeat_interleave(heads // kvh, 1)
        v = v.repeat_interleave(heads // kvh, 1)
    q = q * (scale * math.sqrt(q.size(3)))
    return torch.ops.aten._scaled_dot_product_attention(q, k, v, None, 0.0, False, True)[0]


def make_rope(max_len, d_head, theta):
    inv = torch.pow(theta, -torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    ang = torch.outer(torch.arange(max_len, dtype=torch.float64), inv)
    return ang.cos().float(), ang.sin().float()


def matrix(out, inp):
    return nn.Parameter(torch.empty(out, inp))


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Attention(nn.Module):
    def __init__(self, d, heads, kvh, scale):
        super().__init__()
        self.heads, self.kv_heads, self.d_head, self.scale = heads, kvh, d // heads, scale
        self.wq = matrix(d, d)
        self.wk = matrix(kvh * self.d_head, d)
        self.wv = matrix(kvh * self.d_head, d)
        self.wo = matrix(d, d)

    def forward(self, x, rope):
        q = apply_rope(split_heads(linear(x, self.wq), self.heads), rope)
        k = apply_rope(split_heads(linear(x, self.wk), self.kv_heads), rope)
        v = split_heads(linear(x, self.wv), self.kv_heads)
        y = causal_attention(q, k, v, self.scale)
        return linear(merge_heads(y), self.wo)


class SwiGLU(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.w_gate = matrix(hidden, d)
        self.w_up = matrix(hidden, d)
        self.w_down = matrix(d, hidden)

    def forward(self, x):
        return linear(F.silu(linear(x, self.w_gate)) * linear(x, self.w_up), self.w_down)


class Block(nn.Module):
    def __init__(self, m, d, heads, kvh):
        super().__init__()
        self.attn_norm = RMSNorm(d)
        self.attn = Attention(d, heads, kvh, attention_scale(m, d // heads))
        self.ffn_norm = RMSNorm(d)
        self.ffn = SwiGLU(d, ffn_hidden(m, d))

    def forward(self, x, rope):
        h = x + self.attn(self.attn_norm(x), rope)
        return h + self.ffn(self.ffn_norm(h))


class CrossAttention(nn.Module):
    def __init__(self, m):
        super().__init__()
        d = m.d_token
        self.heads = m.n_heads_token
        self.kv_heads = kv_heads(m.n_heads_token, m.n_kv_heads_token)
        self.d_head = d // m.n_heads_token
        self.scale = attention_scale(m, self.d_head)
        self.wq = matrix(d, d)
        self.wk = matrix(self.kv_heads * self.d_head, m.d_concept)
        self.wv = matrix(self.kv_heads * self.d_head, m.d_concept)
        self.wo = matrix(d, d)
        self.q_norm = RMSNorm(self.d_head)
        self.k_norm = RMSNorm(self.d_head)

    def forward(self, x, concepts, src):
        B, T = x.size(0), x.size(1)
        q = self.q_norm(split_heads(linear(x, self.wq), self.heads))
        kc = self.k_norm(linear(concepts, self.wk).view(B, -1, self.kv_heads, self.d_head))
        vc = linear(concepts, self.wv).view(B, -1, self.kv_heads, self.d_head)
        idx = src.view(B, T, 1, 1).expand(B, T, self.kv_heads, self.d_head)
        k = kc.gather(1, idx).transpose(1, 2)
        v = vc.gather(1, idx).transpose(1, 2)
        y = causal_attention(q, k, v, self.scale)
        return linear(merge_heads(y), self.wo)


class DecoderBlock(nn.Module):
    def __init__(self, m):
        super().__init__()
        kvh = kv_heads(m.n_heads_token, m.n_kv_heads_token)
        self.attn_norm = RMSNorm(m.d_token)
        self.attn = Attention(m.d_token, m.n_heads_token, kvh, attention_scale(m, m.d_token // m.n_heads_token))
        self.cross_norm = RMSNorm(m.d_token)
        self.cross = CrossAttention(m)
        self.ffn_norm = RMSNorm(m.d_token)
        self.ffn = SwiGLU(m.d_token, ffn_hidden(m, m.d_token))

    def forward(self, x, concepts, src, rope):
        h = x + self.attn(self.attn_norm(x), rope)
        h = h + self.cross(self.cross_norm(h), concepts, src)
        return h + self.ffn(self.ffn_norm(h))


def boundary_probs(q, k):
    cos = F.cosine_similarity(q[:, :-1], k[:, 1:], dim=-1, eps=1e-8)
    p = ((1.0 - cos) * 0.5).clamp(0.0, 1.0)
    return torch.cat([torch.ones(q.size(0), 1, dtype=p.dtype), p], 1)


def sample_boundaries(p, b, training, uniforms=None):
    """uniforms [B, T]: the draws to sample with (golden tests), else torch.rand's."""
    B, T = p.shape
    with torch.no_grad():
        if b.mode == "fixed":
            R = int(b.ratio)
            out = (torch.arange(T) % R == 0).to(p.dtype).expand(B, T).contiguous()
        elif training:
            pc = p.clamp(1e-6, 1.0 - 1e-6)
            u = torch.rand(B, T) if uniforms is None else uniforms
            out = (u < torch.sigmoid(torch.logit(pc) / b.temperature)).to(p.dtype)
        else:
            out = (p >= 0.5).to(p.dtype)
        out[:, 0].fill_(1.0)
    return out


def ema_smooth(z, P):
    prev = z[:, 0]
    out = [prev]
    for k in range(1, z.size(1)):
        pk = P[:, k].unsqueeze(-1)
        prev = pk * z[:, k] + (1 - pk) * prev
        out.append(prev)
    return torch.stack(out, 1)


class LanguageModel(nn.Module):
    def __init__(self, m, b):
        super().__init__()
        self.m, self.b = m, b
        d, V = m.d_token, m.vocab_size
        self.tok_emb = nn.Parameter(torch.empty(V, d))
        self.rope_tok = make_rope(m.seq_len, d // m.n_heads_token, m.rope_theta)
        if m.arch == "baseline":
            self.layers = nn.ModuleList(
                [Block(m, d, m.n_heads_token, kv_heads(m.n_heads_token, m.n_kv_heads_token)) for _ in range(m.n_layers)])
        else:
            kvh = kv_heads(m.n_heads_token, m.n_kv_heads_token)
            self.encoder = nn.ModuleList([Block(m, d, m.n_heads_token, kvh) for _ in range(m.encoder_layers)])
            self.enc_norm = RMSNorm(d)
            ds = scan_dim(m, b)
            self.w_scan_q = matrix(ds, d)
            self.w_scan_k = matrix(ds, d)
            self.w_up = matrix(m.d_concept, d)
            self.backbone = nn.ModuleList(
                [Block(m, m.d_concept, m.n_heads_concept, kv_heads(m.n_heads_concept, m.n_kv_heads_concept))
                 for _ in range(m.concept_layers)])
            self.backbone_norm = RMSNorm(m.d_concept)
            self.null_concept = nn.Parameter(torch.empty(m.d_concept))
            self.rope_con = make_rope(m.seq_len, m.d_concept // m.n_heads_concept, m.rope_theta)
            self.decoder = nn.ModuleList([DecoderBlock(m) for _ in range(m.decoder_layers)])
        self.final_norm = RMSNorm(d)
        self.lm_head = nn.Parameter(torch.empty(V, d))

    def forward(self, tokens, uniforms=None):
        B, T = tokens.shape
        x = F.embedding(tokens, self.tok_emb)
        p = bnd = None
        if self.m.arch == "baseline":
            for l in self.layers:
                x = l(x, self.rope_tok)
        else:
            for l in self.encoder:
                x = l(x, self.rope_tok)
            h = self.enc_norm(x)
            q, k = linear(h, self.w_scan_q), linear(h, self.w_scan_k)
            p = boundary_probs(q, k)
            bnd = sample_boundaries(p, self.b, self.training, uniforms)
            seg = bnd.long().cumsum(1) - 1
            K = int(seg.max().item()) + 1
            idx = seg.unsqueeze(-1).expand(B, T, h.size(2))
            sums = torch.zeros(B, K, h.size(2)).scatter_add(1, idx, h)
            counts = torch.zeros(B, K).scatter_add(1, seg, torch.ones_like(p))
            pooled = sums / counts.clamp_min(1.0).unsqueeze(-1)
            c = linear(pooled, self.w_up)
            for l in self.backbone:
                c = l(c, self.rope_con)
            z = self.backbone_norm(c)
            if self.b.smoothing == "ema":
                first = torch.zeros(B, K).scatter_add(1, seg, p * bnd)
                z = ema_smooth(z, first)
            concepts = torch.cat([self.null_concept.view(1, 1, -1).expand(B, 1, z.size(2)), z], 1)
            for l in self.decoder:
                h = l(h, concepts, seg, self.rope_tok)
            x = h
        y = self.final_norm(x)
        logits = linear(y, self.lm_head) * output_mult(self.m)
        return logits, p, bnd


def param_infos(model):
    """(name, tensor, group, fan_in) as model::param_infos."""
    out = []
    for n, t in model.named_parameters():
        if n == "tok_emb":
            g, f = "embedding", "none"
        elif n == "lm_head":
            g, f = "head", "d_token"
        elif "norm" in n or n == "null_concept":
            g, f = "vector", "none"
        elif n.startswith("backbone."):
            g, f = "backbone", "d_concept"
        elif n == "w_up":
            g, f = "joining", "d_token"
        elif ".cross.wk" in n or ".cross.wv" in n:
            g, f = "joining", "d_concept"
        else:
            g, f = "token", "d_token"
        out.append((n, t, g, f))
    return out


def init_parameters(model):
    with torch.no_grad():
        for n, t, g, f in param_infos(model):
            if g == "vector" and n != "null_concept":
                t.fill_(1.0)
            elif n in ("w_scan_q", "w_scan_k"):
                t.copy_(torch.eye(t.size(0), t.size(1)))
            else:
                t.normal_(0.0, group_rule(model.m, g, f)[0])


def ratio_loss(Fr, G, R):
    return R / (R - 1.0) * ((R - 1.0) * Fr * G + (1.0 - Fr) * (1.0 - G)) - 1.0


def aux_loss(p, bnd, b):
    if p is None or b.mode == "fixed":
        return torch.zeros(())
    if b.mode == "global":
        return ratio_loss(bnd.mean(), p.mean(), b.ratio)
    return ratio_loss(bnd.mean(1), p.mean(1), b.ratio).mean()


def make_adamw(model, cfg, foreach):
    """Same groups as train::make_adamw: one per (μP group, fan-in), each with its peak rate, ε, decay."""
    m, t = cfg.model, cfg.train
    groups, index = [], {}
    for n, p, g, f in param_infos(model):
        lr, eps, wd = group_hyperparameters(m, t, g, f)
        key = g + ("/d_concept" if f == "d_concept" else "/d_token" if f == "d_token" else "")
        if key not in index:
            index[key] = len(groups)
            groups.append(dict(params=[], name=key, peak_lr=lr, eps=eps, weight_decay=wd, lr=lr))
        groups[index[key]]["params"].append(p)
    return torch.optim.AdamW(groups, lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps, weight_decay=t.weight_decay,
                             foreach=foreach)


def load_tokens(cfg, root):
    d = cfg.data
    path = os.path.join(root, d.dir, "train.bin") if d.dir else os.path.join(root, d.train_bin)
    return np.fromfile(path, dtype=np.uint16)


# --- one optimizer step (train::forward_backward + clip + AdamW) ---------------------------------


def forward_backward(model, params, next_windows, cfg, next_uniforms=None):
    """next_windows(B): the next micro-batch's windows [B, T+1]; next_uniforms(B): its boundary draws."""
    b, t, m = cfg.boundary, cfg.train, cfg.model
    M = t.micro_batches
    mb, T = t.batch_size // M, m.seq_len
    dlcm = m.arch == "dlcm"
    pooled = dlcm and b.mode == "global" and M > 1
    deferred = pooled and b.aux_weight > 0
    grad_G = [None] * len(params) if deferred else []
    loss_sum = aux_sum = 0.0
    F_sum = G_sum = boundaries = 0.0
    K_max = 0
    for _ in range(M):
        w = next_windows(mb)
        logits, p, bnd = model(w[:, :T], next_uniforms(mb) if next_uniforms else None)
        ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1))
        loss = ce / M
        if dlcm:
            boundaries += bnd.sum().item()
            K_max = max(K_max, int(bnd.sum(1).max().item()))  # the backbone runs on [B, K_max, d_concept]
            if pooled:
                G = p.mean()
                F_sum += bnd.mean().item()
                G_sum += G.item()
                if deferred:
                    g = torch.autograd.grad([G / M], params, retain_graph=True, allow_unused=True)
                    for j, gj in enumerate(g):
                        if gj is not None:
                            grad_G[j] = gj if grad_G[j] is None else grad_G[j] + gj
            else:
                aux = aux_loss(p, bnd, b)
                aux_sum += aux.item() / M
                loss = loss + b.aux_weight * aux / M
        loss.backward()
        loss_sum += ce.item() / M
    if pooled:
        Fm, Gm, R = F_sum / M, G_sum / M, b.ratio
        aux_sum = R / (R - 1) * ((R - 1) * Fm * Gm + (1 - Fm) * (1 - Gm)) - 1
        coef = b.aux_weight * R / (R - 1) * (R * Fm - 1)
        with torch.no_grad():
            for p_, gG in zip(params, grad_G):
                if gG is None:
                    continue
                if p_.grad is not None:
                    p_.grad.add_(gG, alpha=coef)
                else:
                    p_.grad = gG * coef
    ratio = t.batch_size * T / max(1.0, boundaries) if dlcm else 1.0
    return loss_sum, aux_sum, ratio, K_max


def matmul_flops(n, reps):
    with torch.no_grad():
        a, b_, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        for _ in range(2):
            torch.mm(a, b_, out=c)
        fl = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b_, out=c)
            fl.append(2.0 * n ** 3 / (time.perf_counter() - t0))
    return max(fl)  # best rep: the ceiling (as dlcm_bench_step)


# --- the golden test against the C++ model (tests/model/test_golden.cpp) -------------------------

# Elementwise |py - c++| <= GOLDEN_TOL * (max|c++| + |c++|): relative to the tensor's own scale, not
# to 1, since a tiny model's gradients are ~1e-3 and an absolute 1e-5 would pass them 1% off.
GOLDEN_TOL = 1e-5


def read_tensors(case_dir, index):
    """The exporter's tensors.bin: raw little-endian tensors at the offsets index.json gives."""
    raw = np.fromfile(os.path.join(case_dir, "tensors.bin"), dtype=np.uint8)
    out = {}
    for name, e in index.items():
        dt = np.dtype("<f4" if e["dtype"] == "float32" else "<i8")
        n = math.prod(e["shape"])
        a = raw[e["offset"]:e["offset"] + n * dt.itemsize].view(dt).reshape(e["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out


def golden_case(case_dir):
    """Loads one case's weights into this model, recomputes the forward and the trainer's step (up to
    the update) with the case's windows and boundary draws, and compares every result with C++'s."""
    with open(os.path.join(case_dir, "index.json")) as f:
        idx = json.load(f)
    cfg = load_config(os.path.join(case_dir, "config.toml"))
    m, t = cfg.model, cfg.train
    ts = read_tensors(case_dir, idx["tensors"])
    model = LanguageModel(m, cfg.boundary)
    ours = dict(model.named_parameters())
    theirs = {n[len("param/"):]: v for n, v in ts.items() if n.startswith("param/")}
    shapes = lambda d: {n: tuple(v.shape) for n, v in d.items()}
    if shapes(ours) != shapes(theirs):
        diff = sorted(set(shapes(ours).items()) ^ set(shapes(theirs).items()))
        return dict(ok=False, failures=[f"parameters differ (name, shape): {diff[:4]}"])
    with torch.no_grad():
        for n, p in ours.items():
            p.copy_(theirs[n])
    model.train(idx["training"])
    M, T = t.micro_batches, m.seq_len
    mb = t.batch_size // M
    windows, uniforms = ts["windows"], ts.get("uniforms")
    draws = lambda: iter(uniforms.split(mb)) if uniforms is not None else iter([None] * M)
    pairs, failures = [], []

    with torch.no_grad():
        outs = [model(w[:, :T], u) for w, u in zip(windows.split(mb), draws())]
    pairs.append(("logits", torch.cat([o[0] for o in outs]), ts["logits"]))
    if m.arch == "dlcm":
        pairs.append(("p", torch.cat([o[1] for o in outs]), ts["p"]))
        bnd = torch.cat([o[2] for o in outs])
        if not torch.equal(bnd, ts["boundaries"]):
            failures.append(f"boundaries: {int((bnd != ts['boundaries']).sum())} of {bnd.numel()} decisions differ")

    opt = make_adamw(model, cfg, None)
    params = [p for g in opt.param_groups for p in g["params"]]
    batches, step_draws = iter(windows.split(mb)), draws()
    loss, aux, ratio, _ = forward_backward(model, params, lambda B: next(batches), cfg, lambda B: next(step_draws))
    names = {id(p): n for n, p in ours.items()}
    with_grad = {names[id(p)] for p in params if p.grad is not None}
    cpp_grad = {n[len("grad/"):] for n in ts if n.startswith("grad/")}
    if with_grad != cpp_grad:
        failures.append(f"gradients defined for different parameters: {sorted(with_grad ^ cpp_grad)}")
    pairs += [(f"grad/{n}", ours[n].grad, ts[f"grad/{n}"]) for n in sorted(with_grad & cpp_grad)]
    gnorm = float(torch.nn.utils.clip_grad_norm_(params, t.grad_clip)) if t.grad_clip > 0 else 0.0
    groups = [dict(name=g["name"], lr=g["peak_lr"], eps=g["eps"], weight_decay=g["weight_decay"],
                   params=[names[id(p)] for p in g["params"]]) for g in opt.param_groups]
    if groups != idx["groups"]:
        failures.append(f"optimizer groups differ: {groups} != C++ {idx['groups']}")
    pairs += [(k, torch.tensor(v, dtype=torch.float64), torch.tensor(idx[k], dtype=torch.float64))
              for k, v in (("loss", loss), ("aux", aux), ("ratio", ratio), ("grad_norm", gnorm))]

    worst = ("", 0.0, 0.0)  # name, max |py - c++|, its share of the bound
    for name, a, b in pairs:
        if a.shape != b.shape:
            failures.append(f"{name}: shape {tuple(a.shape)} != C++ {tuple(b.shape)}")
            continue
        a, b = a.double(), b.double()
        d = (a - b).abs()
        ratio = torch.where(d == 0, 0.0, d / (GOLDEN_TOL * (b.abs().max() + b.abs())))  # NaN stays NaN
        share = float(ratio.max()) if d.numel() else 0.0
        if not share <= 1.0:  # NaN fails too
            failures.append(f"{name}: max |py - c++| {float(d.max()):.3g} is {share:.3g}x the bound")
        if not share <= worst[2]:
            worst = (name, float(d.max()), share)
    return dict(ok=not failures, failures=failures, worst=worst[0], worst_abs=worst[1], worst_share=worst[2],
                tensors_compared=len(pairs), parameters=len(ours))


def golden(root):
    """Every case directory under root (tests/model/test_golden.cpp writes them); golden.json there."""
    report = {}
    for case in sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "index.json"))):
        r = report[case] = golden_case(os.path.join(root, case))
        status = "ok" if r["ok"] else "MISMATCH"
        print(f"{case:44s} {status:8s} worst {r.get('worst', '')}: |py - c++| {r.get('worst_abs', 0):.2g}, "
              f"{r.get('worst_share', 0):.3f} of the bound ({r.get('tensors_compared', 0)} tensors)")
        for f in r["failures"]:
            print(f"    {f}")
    with open(os.path.join(root, "golden.json"), "w") as f:
        json.dump(report, f, indent=1)
    if not report:
        print(f"py_dlcm: {root}: no case directories (index.json) to compare", file=sys.stderr)
    return 0 if report and all(r["ok"] for r in report.values()) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config")
    ap.add_argument("--golden", default="", metavar="DIR",
                    help="compare with the C++ model's exported cases in DIR (tests/model/test_golden.cpp)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--expect-params", type=int, default=0, help="assert the parameter count equals this")
    ap.add_argument("--foreach", action="store_true", help="force AdamW's multi-tensor path")
    ap.add_argument("--matmul", action="store_true", help="also time a 2048² matmul in this process")
    ap.add_argument("--ops-profile", default="", help="write per-step operator counts (autograd profiler)")
    ap.add_argument("--root", default=".", help="where data.dir is relative to (repository root)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.golden:
        sys.exit(golden(a.golden))
    if not a.config:
        ap.error("--config is required (or --golden DIR)")

    cfg = load_config(a.config)
    torch.manual_seed(cfg.train.seed)
    model = LanguageModel(cfg.model, cfg.boundary)
    init_parameters(model)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    if a.expect_params and n_params != a.expect_params:
        sys.exit(f"py_dlcm: parameter count {n_params} != C++ {a.expect_params}")
    opt = make_adamw(model, cfg, True if a.foreach else None)
    params = [p for g in opt.param_groups for p in g["params"]]
    data = load_tokens(cfg, a.root)
    rng = np.random.default_rng(cfg.train.seed)

    def next_windows(B):
        off = rng.integers(0, len(data) - cfg.model.seq_len, size=B)
        return torch.from_numpy(data[off[:, None] + np.arange(cfg.model.seq_len + 1)].astype(np.int64))
    tokens_per_step = cfg.train.batch_size * cfg.model.seq_len
    total = a.warmup + a.steps
    step_seconds, losses, ratios, Ks = [], [], [], []
    prof = None
    for step in range(total):
        if a.ops_profile and step == a.warmup:
            prof = torch.autograd.profiler.profile()
            prof.__enter__()
        lrf = lr_factor(NS({**cfg.train, "steps": total}), step)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss, aux, ratio, K = forward_backward(model, params, next_windows, cfg)
        gnorm = float(torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)) if cfg.train.grad_clip > 0 else 0.0
        if not math.isfinite(loss) or not math.isfinite(gnorm):
            sys.exit(f"py_dlcm: step {step}: loss {loss}, grad norm {gnorm}: diverged")
        for g in opt.param_groups:
            g["lr"] = lrf * g["peak_lr"]
        opt.step()
        step_seconds.append(time.perf_counter() - t0)
        losses.append(loss)
        ratios.append(ratio)
        Ks.append(K)
    if prof is not None:
        prof.__exit__(None, None, None)
        ops = {}
        for e in prof.key_averages():
            ops[e.key] = dict(calls=e.count / a.steps, incl_us=e.cpu_time_total / a.steps,
                              self_us=e.self_cpu_time_total / a.steps)
        with open(a.ops_profile, "w") as f:
            json.dump(dict(per_step=True, steps=a.steps, calls_per_step=sum(o["calls"] for o in ops.values()),
                           ops=ops), f, indent=1)
    timed = step_seconds[a.warmup:]
    # FLOPs are linear in concepts per token: the timed steps' mean is the formula at their harmonic-mean ratio.
    timed_ratio = len(timed) / sum(1.0 / r for r in ratios[a.warmup:])
    step_s = statistics.fmean(timed)
    res = dict(impl="python", config=a.config, arch=cfg.model.arch, threads=a.threads, steps=a.steps,
               warmup=a.warmup, n_params=n_params, tokens_per_step=tokens_per_step, step_seconds=timed,
               step_seconds_mean=step_s, step_seconds_median=statistics.median(timed),
               step_seconds_stdev=statistics.stdev(timed) if len(timed) > 1 else 0.0,
               tokens_per_second=tokens_per_step / step_s, final_train_loss=statistics.fmean(losses[-20:]),
               train_realised_ratio=statistics.fmean(ratios), timed_realised_ratio=timed_ratio, concepts_max=Ks,
               concepts_mean=[cfg.model.seq_len / r for r in ratios],
               flops_per_token=6.0 * n_eff(cfg.model, cfg.boundary, timed_ratio),
               adamw_foreach=bool(a.foreach), torch=torch.__version__, num_threads=torch.get_num_threads())
    res["train_flops_per_second"] = res["flops_per_token"] * tokens_per_step / step_s
    if a.matmul:
        res["matmul_flops_per_second"] = matmul_flops(2048, 8)
        res["mfu_vs_matmul"] = res["train_flops_per_second"] / res["matmul_flops_per_second"]
    if a.json:
        print(json.dumps(res))
    else:
        print(f"config            {a.config} ({cfg.model.arch}, {n_params} params)")
        print(f"threads           {a.threads}")
        print(f"AdamW             {'foreach (forced)' if a.foreach else 'foreach=None -> per-parameter loop on CPU'}")
        print(f"steps             {a.steps} timed after {a.warmup} warm-up, {tokens_per_step} tokens each")
        print(f"step time         {step_s:.4f} s mean, {res['step_seconds_median']:.4f} s median, "
              f"±{res['step_seconds_stdev']:.4f} s stdev")
        print(f"realised ratio    {res['timed_realised_ratio']:.2f} tokens per concept over the timed steps "
              f"({res['train_realised_ratio']:.2f} over all)")
        print(f"tokens/s          {res['tokens_per_second']:.0f}")
        print(f"training FLOP/s   {res['train_flops_per_second']:.3g} ({res['flops_per_token']:.4g} FLOPs/token)")
        if a.matmul:
            print(f"matmul FLOP/s     {res['matmul_flops_per_second']:.3g}")


if __name__ == "__main__":
    main()
