#!/usr/bin/env bash
# Where a training step's time goes, per operator kind, at the demo study's shapes (one thread):
#
#   bench/profile_step.sh [BENCH]     # BENCH: a dlcm_bench_step (default build/bench/dlcm_bench_step)
#
# For each shape, dlcm_bench_step --ops-profile counts every operator LibTorch records in one step
# (forward, backward, clipping, AdamW; by difference of two runs, so setup and the final evaluation
# cancel) and this script groups their self time into kinds. Shapes: the baseline at d_token 16-128
# (T 128, 2 layers) and T 64-256 (d 32), and the DLCM (d_token = d_concept, R 4, 1/2/1 layers) at
# T 128 and 256. Prints a markdown table: per shape, ms per step (self time summed; the step's wall
# time is larger by the autograd engine's own bookkeeping), then each kind's share. Env: STEPS (30),
# WARMUP (20).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${1:-build/bench/dlcm_bench_step}
STEPS=${STEPS:-30}
WARMUP=${WARMUP:-20}
TMPD=$(mktemp -d /tmp/dlcm_profile_step.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
[[ -f data/corpus/train.bin ]] || "$BENCH" --prepare-corpus data/corpus

shape() {  # NAME CONFIG d T
  local name=$1 cfg=$2 d=$3 T=$4
  sed -e "s/^d_token = .*/d_token = $d/" -e "s/^d_concept = .*/d_concept = $d/" -e "s/^seq_len = .*/seq_len = $T/" \
    "$cfg" >"$TMPD/$name.toml"
  "$BENCH" --config "$TMPD/$name.toml" --steps "$STEPS" --warmup "$WARMUP" --threads 1 --matmul-reps 1 --json \
    --ops-profile "$TMPD/$name.ops.json" >"$TMPD/$name.json"
  echo "$name" >>"$TMPD/order"
}
for d in 16 32 64 128; do shape "baseline d$d T128" bench/configs/demo-baseline.toml "$d" 128; done
for T in 64 256; do shape "baseline d32 T$T" bench/configs/demo-baseline.toml 32 "$T"; done
for T in 128 256; do shape "dlcm d32 T$T" bench/configs/demo-dlcm.toml 32 "$T"; done

python3 - "$TMPD" <<'PY'
import json, os, re, sys
d = sys.argv[1]
KINDS = [  # (kind, pattern over operator names), first match wins
    ("matmul", r"^aten::(mm|bmm|addmm_?|baddbmm|addmm_impl)$"),
    ("softmax", r"^aten::(_softmax|_softmax_backward_data|_log_softmax|_log_softmax_backward_data|nll_loss.*)$"),
    ("norm, RoPE kernels", r"(RmsNorm|HeadsRope)"),
    ("element-wise", r"^aten::(mul|mul_|add|add_|sub|div|div_|silu|silu_backward|sigmoid|exp|log|pow|rsqrt|sqrt|neg|clamp|where|lt|ge|cumsum|sum|mean|addcmul_|addcdiv_|fill_|zero_|masked_fill_|logit|linalg_vector_norm|norm|max|cosine_similarity|gather|scatter_add|scatter_add_|embedding_dense_backward|one_hot|rand)$"),
    ("copies, cat", r"^aten::(copy_|_to_copy|cat|clone|contiguous|stack|index_select)$"),
    ("views, bookkeeping", r"^aten::(select|as_strided|view|reshape|_reshape_alias|transpose|t|slice|narrow|expand|unsqueeze|squeeze|permute|split.*|chunk|_unsafe_view|detach|alias|resolve_conj|resolve_neg|empty|empty_like|empty_strided|zeros|zeros_like|ones|ones_like|to|result_type|item|_local_scalar_dense|lift_fresh)$"),
    ("AdamW, clipping", r"^aten::_foreach"),
    ("autograd nodes", r"(Backward|autograd::|AccumulateGrad|CppNode)"),
]
order = [l.strip() for l in open(os.path.join(d, "order"))]
print("| shape | tok/s | ms/step (op self time) | " + " | ".join(k for k, _ in KINDS) + " | other |")
print("| --- | ---: | ---: | " + " | ".join("---:" for _ in KINDS) + " | ---: |")
for name in order:
    run = json.load(open(os.path.join(d, name + ".json")))
    ops = json.load(open(os.path.join(d, name + ".ops.json")))
    ops = ops.get("ops", ops)
    share = {k: 0.0 for k, _ in KINDS}
    other = 0.0
    for op, s in ops.items():
        us = max(0.0, s["self_us"])
        for k, pat in KINDS:
            if re.search(pat, op):
                share[k] += us
                break
        else:
            other += us
    total = sum(share.values()) + other
    cells = " | ".join(f"{100 * share[k] / total:.0f}%" for k, _ in KINDS)
    print(f"| {name} | {run['tokens_per_second']:.0f} | {total / 1000:.1f} | {cells} | {100 * other / total:.0f}% |")
PY
