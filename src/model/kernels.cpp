#include "model/kernels.hpp"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

namespace dlcm::model::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows of at least this many elements' work per thread chunk: below it threads cost more than rows.
constexpr int64_t kGrain = 32;

// Σ a_j b_j over a row, in 8 independent partial sums so that it vectorises (a plain float sum may
// not be reordered without -ffast-math).
inline float row_dot(const float* __restrict a, const float* __restrict b, int64_t d) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= d; j += 8)
    for (int l = 0; l < 8; ++l) part[l] += a[j + l] * b[j + l];
  float s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; j < d; ++j) s += a[j] * b[j];
  return s;
}

inline void rms_row_forward(const float* __restrict x, const float* __restrict w, float* __restrict h,
                            float* __restrict y, float* __restrict r, int64_t d, float eps) {
  const float ri = 1.0f / std::sqrt(row_dot(x, x, d) / static_cast<float>(d) + eps);
  *r = ri;
  for (int64_t j = 0; j < d; ++j) h[j] = x[j] * ri;
  for (int64_t j = 0; j < d; ++j) y[j] = h[j] * w[j];
}

// y = x̂ w with x̂ = r x: dw += g x̂; dx = r (g w − x̂ · mean(g w x̂)). gw: scratch of d floats.
inline void rms_row_backward(const float* __restrict g, const float* __restrict h, const float* __restrict w,
                             float r, float* __restrict dx, float* __restrict dw, float* __restrict gw, int64_t d) {
  for (int64_t j = 0; j < d; ++j) gw[j] = g[j] * w[j];
  const float c = row_dot(gw, h, d) / static_cast<float>(d);
  for (int64_t j = 0; j < d; ++j) dw[j] += g[j] * h[j];
  for (int64_t j = 0; j < d; ++j) dx[j] = r * (gw[j] - h[j] * c);
}

struct RmsNormFn : torch::autograd::Function<RmsNormFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& w_in,
                               double eps) {
    const auto x = x_in.contiguous();
    const auto w = w_in.contiguous();
    const int64_t d = x.size(-1), n = x.numel() / d;
    auto y = torch::empty_like(x), xhat = torch::empty_like(x);
    auto r = torch::empty({n}, x.options());
    const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>();
    float *yp = y.data_ptr<float>(), *hp = xhat.data_ptr<float>(), *rp = r.data_ptr<float>();
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        rms_row_forward(xp + i * d, wp, hp + i * d, yp + i * d, rp + i, d, static_cast<float>(eps));
    });
    ctx->save_for_backward({xhat, r, w});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &xhat = saved[0], &r = saved[1], &w = saved[2];
    const auto g = grads[0].contiguous();
    const int64_t d = xhat.size(-1), n = xhat.numel() / d;
    auto dx = torch::empty_like(xhat);
    std::vector<double> dw_acc(static_cast<size_t>(d), 0.0);  // Σ over threads' float partial sums
    std::mutex mu;
    const float *gp = g.data_ptr<float>(), *hp = xhat.data_ptr<float>(), *rp = r.data_ptr<float>(),
                *wp = w.data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
      std::vector<float> acc(static_cast<size_t>(d), 0.0f), gw(static_cast<size_t>(d));
      for (int64_t i = begin; i < end; ++i)
        rms_row_backward(gp + i * d, hp + i * d, wp, rp[i], dxp + i * d, acc.data(), gw.data(), d);
      std::lock_guard<std::mutex> lock(mu);
      for (int64_t j = 0; j < d; ++j) dw_acc[j] += acc[j];
    });
    auto dw = torch::tensor(dw_acc, torch::kDouble).to(torch::kFloat);
    return {dx, dw, torch::Tensor()};
  }
};

// Rotate-half RoPE of one head: out[i] = a[i]·c[i] − a[i+h]·s[i], out[i+h] = a[i+h]·c[i] + a[i]·s[i]
// (sign = +1); sign = −1 is the inverse rotation, which is also its transpose (the backward).
inline void rotate(const float* __restrict a, float* __restrict out, const float* __restrict c,
                   const float* __restrict s, int64_t half, float sign) {
  for (int64_t i = 0; i < half; ++i) {
    const float x1 = a[i], x2 = a[i + half];
    out[i] = x1 * c[i] - sign * x2 * s[i];
    out[i + half] = x2 * c[i] + sign * x1 * s[i];
  }
}

struct HeadsRopeFn : torch::autograd::Function<HeadsRopeFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, int64_t heads,
                               const torch::Tensor& cos_in, const torch::Tensor& sin_in) {
    const auto x = x_in.stride(-1) == 1 ? x_in : x_in.contiguous();
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), dh = C / heads, half = dh / 2;
    const auto cos = cos_in.slice(0, 0, T).contiguous(), sin = sin_in.slice(0, 0, T).contiguous();
    auto out = torch::empty({B, heads, T, dh}, x.options());
    const int64_t sB = x.stride(0), sT = x.stride(1);
    const float *xp = x.data_ptr<float>(), *cp = cos.data_ptr<float>(), *sp = sin.data_ptr<float>();
    float* op = out.data_ptr<float>();
    at::parallel_for(0, B * T, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / T, t = row % T;
        for (int64_t h = 0; h < heads; ++h)
          rotate(xp + b * sB + t * sT + h * dh, op + ((b * heads + h) * T + t) * dh, cp + t * half, sp + t * half,
                 half, 1.0f);
      }
    });
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["C"] = C;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &cos = saved[0], &sin = saved[1];
    const int64_t heads = ctx->saved_data["heads"].toInt(), C = ctx->saved_data["C"].toInt();
    const auto g = grads[0].contiguous();  // [B, H, T, dh]
    const int64_t B = g.size(0), T = g.size(2), dh = g.size(3), half = dh / 2;
    auto dx = torch::empty({B, T, C}, g.options());
    const float *gp = g.data_ptr<float>(), *cp = cos.data_ptr<float>(), *sp = sin.data_ptr<float>();
    float* dp = dx.data_ptr<float>();
    at::parallel_for(0, B * T, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / T, t = row % T;
        for (int64_t h = 0; h < heads; ++h)
          rotate(gp + ((b * heads + h) * T + t) * dh, dp + row * C + h * dh, cp + t * half, sp + t * half, half,
                 -1.0f);
      }
    });
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// [B, H, T, dh] -> [B·H, T, dh]
torch::Tensor flat(const torch::Tensor& x) { return x.reshape({-1, x.size(2), x.size(3)}); }

struct AttentionFn : torch::autograd::Function<AttentionFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& bias, double scale) {
    const auto q3 = flat(q.contiguous()), k3 = flat(k.contiguous()), v3 = flat(v.contiguous());
    // One kernel for scores, scale and bias (beta · bias + alpha · q kᵀ).
    const auto p = at::_softmax(at::baddbmm(bias, q3, k3.transpose(1, 2), 1.0, scale), -1, false);  // [B·H, Tq, Tk]
    auto o = at::bmm(p, v3);  // [B·H, Tq, dh]
    ctx->save_for_backward({q3, k3, v3, p});
    ctx->saved_data["scale"] = scale;
    return o.view(q.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &q3 = saved[0], &k3 = saved[1], &v3 = saved[2], &p = saved[3];
    const double scale = ctx->saved_data["scale"].toDouble();
    const auto g = grads[0].contiguous();
    const auto go = g.view({q3.size(0), q3.size(1), q3.size(2)});
    auto dv = at::bmm(p.transpose(1, 2), go);
    auto dp = at::bmm(go, v3.transpose(1, 2));
    auto ds = at::_softmax_backward_data(dp, p, -1, p.scalar_type());
    ds.mul_(scale);
    auto dq = at::bmm(ds, k3), dk = at::bmm(ds.transpose(1, 2), q3);
    const std::vector<int64_t> kv_shape{g.size(0), g.size(1), k3.size(1), k3.size(2)};
    return {dq.view(g.sizes()), dk.view(kv_shape), dv.view(kv_shape), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool fused(const torch::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == torch::kFloat; }

torch::Tensor rms_norm_reference(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  const auto xf = x.to(torch::kFloat);
  return xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps) * w;
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  if (!fused(x) || !fused(w)) return rms_norm_reference(x, w, eps);
  return RmsNormFn::apply(x, w, eps);
}

torch::Tensor heads_rope_reference(const torch::Tensor& x, int64_t heads, const torch::Tensor& cos,
                                   const torch::Tensor& sin) {
  auto xh = x.view({x.size(0), x.size(1), heads, -1}).transpose(1, 2);  // [B, H, T, dh]
  const int64_t T = xh.size(2), half = xh.size(3) / 2;
  auto c = cos.slice(0, 0, T).to(x.device()), s = sin.slice(0, 0, T).to(x.device());
  auto x1 = xh.slice(3, 0, half), x2 = xh.slice(3, half);
  return torch::cat({x1 * c - x2 * s, x2 * c + x1 * s}, 3);
}

torch::Tensor heads_rope(const torch::Tensor& x, int64_t heads, const torch::Tensor& cos, const torch::Tensor& sin) {
  if (!fused(x)) return heads_rope_reference(x, heads, cos, sin);
  return HeadsRopeFn::apply(x, heads, cos, sin);
}

torch::Tensor attention_reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& bias, double scale) {
  auto s = torch::matmul(flat(q), flat(k).transpose(1, 2)) * scale + bias;
  return torch::matmul(torch::softmax(s, -1), flat(v)).view(q.sizes());
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias, double scale) {
  if (!fused(q)) return attention_reference(q, k, v, bias, scale);
  return AttentionFn::apply(q, k, v, bias, scale);
}

torch::Tensor causal_bias(int64_t T) {
  return torch::full({T, T}, -std::numeric_limits<float>::infinity()).triu(1);
}

}  // namespace dlcm::model::kernels
