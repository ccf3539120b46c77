// Decoupled μP (DESIGN §5) read off the real objects: the optimizer's per-tensor rate (three base
// rates η_tok, η_con, η_other), ε and weight decay, each tensor's initial standard deviation, the
// first update's size, the logit multiplier and the attention scale, for a model at its base widths,
// at 4× token / 2× concept width and at 4× concept width alone; and the weight decay's per-step
// effect across widths in both modes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "model/model.hpp"
#include "tiny_config.hpp"
#include "train/optim.hpp"

using namespace dlcm;

namespace {

constexpr double kSigma = 0.02, kEps = 1e-8, kDecay = 0.1;
// Three distinct base rates: a tensor in the wrong group takes a visibly wrong one.
constexpr double kLrToken = 1e-3, kLrConcept = 4e-4, kLrOther = 2.5e-3;

RunConfig config(Parametrisation p, int d_token, int d_concept) {
  RunConfig c = test::tiny_config();
  c.model.parametrisation = p;
  c.model.seq_len = 32;
  c.model.d_token = d_token;
  c.model.d_concept = d_concept;
  c.model.d_token_base = 64;
  c.model.d_concept_base = 128;
  c.model.init_std = kSigma;
  c.train.eps = kEps;
  c.train.weight_decay = kDecay;
  c.train.weight_decay_mode = WeightDecayMode::coupled;
  c.train.lr = 1.0;  // every group overrides it
  c.train.lr_token = kLrToken;
  c.train.lr_concept = kLrConcept;
  c.train.lr_other = kLrOther;
  return c;
}

struct Expected {
  double std = kSigma, lr = kLrOther, eps = kEps, decay = kDecay;
};

// The table of DESIGN §5 written out by parameter name, independently of core/mup.cpp.
Expected expected(const std::string& n, Parametrisation p, double s_tok, double s_con) {
  Expected e;
  const auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
  if (n == "tok_emb" || has("norm") || n == "null_concept") {
    e.decay = 0;  // embeddings and vectors: base init, base rate, no decay
    return e;
  }
  if (n == "lm_head") return e;
  // Hidden matrices by the width of their fan-in; joining matrices too (W_up: d_token in;
  // cross-attention K/V: d_concept in).
  const bool concept_in = n.rfind("backbone.", 0) == 0 || has(".cross.wk") || has(".cross.wv");
  const double base = concept_in ? kLrConcept : kLrToken;
  if (p == Parametrisation::standard) return {kSigma, base, kEps, kDecay};
  const double s = concept_in ? s_con : s_tok;
  // Cross-attention K/V read the concepts out into the token stream: μP's output-layer variance
  // σ²/s_con² when the concept side is the wider one (σ²/s_con at equal multipliers).
  const double readout = has(".cross.wk") || has(".cross.wv") ? std::sqrt(std::min(1.0, s_tok / s_con)) : 1.0;
  return {kSigma / std::sqrt(s) * readout, base / s, kEps / s, kDecay};
}

struct Built {
  model::LanguageModel net{nullptr};
  train::AdamW opt;
};

Built build(const RunConfig& c) {
  torch::manual_seed(3);
  Built b{model::LanguageModel(c.model, c.boundary), {}};
  model::init_parameters(b.net);
  b.opt = train::make_adamw(model::param_infos(b.net), c.model, c.train);
  return b;
}

// The optimizer group holding this tensor.
const train::AdamGroup& group_of(const train::AdamW& opt, const torch::Tensor& t) {
  for (const auto& g : opt.groups)
    for (const auto& p : g.params)
      if (p.is_same(t)) return g;
  throw std::runtime_error("tensor in no optimizer group");
}

void check_widths(Parametrisation p, int d_token, int d_concept) {
  const RunConfig c = config(p, d_token, d_concept);
  const double s_tok = d_token / 64.0, s_con = d_concept / 128.0;
  auto b = build(c);
  // Every parameter is in exactly one group, and every group carries all of its options.
  size_t in_groups = 0;
  for (const auto& g : b.opt.groups) in_groups += g.params.size();
  ASSERT_EQ(in_groups, b.net->parameters().size());

  // One update on a real loss: Adam's first step moves each entry by lr·g/(|g| + ε), i.e. by the
  // group's rate wherever the gradient is well above ε.
  std::map<std::string, torch::Tensor> before;
  for (auto& item : b.net->named_parameters()) before[item.key()] = item.value().detach().clone();
  torch::manual_seed(5);
  const auto x = torch::randint(0, 256, {4, c.model.seq_len + 1}, torch::kLong);
  auto out = b.net->forward(x.slice(1, 0, c.model.seq_len));
  model::lm_loss(out.logits, x.slice(1, 1)).backward();
  train::adamw_step(b.opt, 1.0);

  int matrices_checked = 0;
  for (auto& item : b.net->named_parameters()) {
    const std::string& n = item.key();
    const auto& t = item.value();
    const auto e = expected(n, p, s_tok, s_con);
    const auto& g = group_of(b.opt, t);
    SCOPED_TRACE(n + " in group " + g.name);
    EXPECT_NEAR(g.lr, e.lr, 1e-15);
    EXPECT_NEAR(g.eps, e.eps, 1e-20);
    EXPECT_NEAR(g.weight_decay, e.decay, 1e-12);
    const bool identity = n == "w_scan_q" || n == "w_scan_k";
    if (t.dim() == 2 && t.numel() >= 4096 && !identity) {
      EXPECT_NEAR(before[n].std().item<double>() / e.std, 1.0, 0.05);  // sample std within 5 %
      matrices_checked += 1;
    }
    if (!t.grad().defined()) continue;  // boundary projections learn only from the auxiliary loss
    const auto moved = (t.detach() - before[n]).abs();
    const auto live = t.grad().abs() > 1e-5;  // entries with a gradient far above ε
    if (live.sum().item<int64_t>() > 100) {
      const double median = moved.masked_select(live).median().item<double>();
      EXPECT_NEAR(median / e.lr, 1.0, 0.02);
    }
  }
  EXPECT_GE(matrices_checked, 10);
}

}  // namespace

TEST(MupRules, PerTensorRateEpsDecayAndInitMatchTheTableAtBaseWidths) {
  check_widths(Parametrisation::mup, 64, 128);
}

TEST(MupRules, PerTensorRateEpsDecayAndInitMatchTheTableAtFourTimesTokenTwiceConceptWidth) {
  check_widths(Parametrisation::mup, 256, 256);
}

TEST(MupRules, PerTensorRateEpsDecayAndInitMatchTheTableAtFourTimesConceptWidthAlone) {
  check_widths(Parametrisation::mup, 64, 512);
}

TEST(MupRules, StandardParametrisationKeepsBaseRulesAtEveryWidth) {
  check_widths(Parametrisation::standard, 256, 256);
}

TEST(MupRules, ScheduleMultipliesTheGroupFactorWithoutOverwritingIt) {
  auto b = build(config(Parametrisation::mup, 256, 256));
  std::vector<double> rates;
  for (const auto& g : b.opt.groups) rates.push_back(g.lr);
  torch::manual_seed(5);
  const auto x = torch::randint(0, 256, {2, 33}, torch::kLong);
  for (double schedule : {0.1, 1.0, 0.5}) {
    train::zero_grad(b.opt);
    model::lm_loss(b.net->forward(x.slice(1, 0, 32)).logits, x.slice(1, 1)).backward();
    train::adamw_step(b.opt, schedule);
  }
  for (size_t i = 0; i < rates.size(); ++i) EXPECT_EQ(b.opt.groups[i].lr, rates[i]) << b.opt.groups[i].name;
}

// With zero gradients Adam moves nothing, so one step scales each matrix by its decay factor alone.
std::map<std::string, double> decay_factors(WeightDecayMode mode, int d_token, int d_concept, double schedule) {
  RunConfig c = config(Parametrisation::mup, d_token, d_concept);
  c.train.weight_decay_mode = mode;
  auto b = build(c);
  std::map<std::string, double> out;
  std::map<std::string, torch::Tensor> before;
  for (auto& item : b.net->named_parameters()) {
    before[item.key()] = item.value().detach().clone();
    item.value().mutable_grad() = torch::zeros_like(item.value());
  }
  train::adamw_step(b.opt, schedule);
  for (const char* n : {"encoder.0.attn.wq", "backbone.0.ffn.w_down", "w_up", "decoder.0.cross.wv", "lm_head"}) {
    const auto p = b.net->named_parameters()[n];
    out[n] = (p.detach().to(torch::kDouble) / before[n].to(torch::kDouble)).mean().item<double>();
  }
  return out;
}

TEST(MupRules, IndependentWeightDecayTakesTheSameStepAtEveryWidthCoupledShrinksWithTheRate) {
  const double schedule = 0.5;
  const auto base = decay_factors(WeightDecayMode::independent, 64, 128, schedule);
  const auto wide = decay_factors(WeightDecayMode::independent, 256, 512, schedule);  // s = 4 both sides
  const auto coupled = decay_factors(WeightDecayMode::coupled, 256, 512, schedule);
  // Per step 1 − wd·schedule·η_base, η_base the group's base rate, at both widths.
  const std::map<std::string, double> eta = {{"encoder.0.attn.wq", kLrToken},  {"backbone.0.ffn.w_down", kLrConcept},
                                             {"w_up", kLrToken},               {"decoder.0.cross.wv", kLrConcept},
                                             {"lm_head", kLrOther}};
  for (const auto& [n, e] : eta) {
    SCOPED_TRACE(n);
    EXPECT_NEAR(base.at(n), 1 - kDecay * schedule * e, 1e-7);
    EXPECT_NEAR(wide.at(n), 1 - kDecay * schedule * e, 1e-7);
    // Coupled: the width-scaled rate decays the hidden matrices 4× less; the head is not scaled.
    EXPECT_NEAR(coupled.at(n), 1 - kDecay * schedule * e / (n == "lm_head" ? 1 : 4), 1e-7);
  }
  EXPECT_NEAR(base.at("backbone.0.ffn.w_down"), 0.99998, 1e-7);  // 1 − 0.1 · 0.5 · 4e-4, in float32
}

TEST(MupRules, LogitsAreDividedByTheTokenWidthMultiplierAndAttentionScalesByOneOverDHead) {
  // One position: attention returns its value whatever the score scale, so the same weights give
  // μP logits = standard logits / s_tok exactly.
  RunConfig mup = config(Parametrisation::mup, 256, 128), standard = mup;
  standard.model.parametrisation = Parametrisation::standard;
  mup.model.arch = standard.model.arch = Arch::baseline;
  auto a = build(mup), s = build(standard);
  torch::NoGradGuard ng;
  auto sp = s.net->named_parameters();
  for (auto& item : a.net->named_parameters()) sp[item.key()].copy_(item.value());
  const auto x = torch::randint(0, 256, {3, 1}, torch::kLong);
  const auto la = a.net->forward(x).logits, ls = s.net->forward(x).logits;
  EXPECT_LT((la * 4.0 - ls).abs().max().item<double>(), 1e-5 * ls.abs().max().item<double>());
  const int d_head = 256 / 2;
  EXPECT_DOUBLE_EQ(a.net->layers[0]->as<model::Block>()->attn->scale, 1.0 / d_head);
  EXPECT_DOUBLE_EQ(s.net->layers[0]->as<model::Block>()->attn->scale, 1.0 / std::sqrt(d_head));
}
