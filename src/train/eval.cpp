#include "train/eval.hpp"

#include <algorithm>
#include <vector>

namespace dlcm::train {

std::vector<DomainWindows> validation_windows(const data::Corpus& corpus, int64_t T, int windows, const Comm& comm) {
  std::vector<data::DomainSpan> spans = corpus.val_domains;
  if (spans.empty()) spans.push_back({"all", 0, static_cast<int64_t>(corpus.val.size())});
  std::vector<DomainWindows> out;
  for (const auto& s : spans) {
    const int64_t room = s.end - s.begin - (T + 1);
    if (room < 0) continue;
    auto& w = out.emplace_back(DomainWindows{s.domain, {}});
    for (int i = comm.rank; i < windows; i += comm.size)
      w.offsets.push_back(s.begin + (windows > 1 ? room * i / (windows - 1) : 0));
  }
  return out;
}

torch::Tensor window_batch(const data::Corpus& corpus, const std::vector<int64_t>& offsets, size_t first, int64_t n,
                           int64_t T) {
  auto w = torch::empty({n, T + 1}, torch::kLong);
  auto acc = w.accessor<int64_t, 2>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t t = 0; t <= T; ++t) acc[b][t] = corpus.val[offsets[first + b] + t];
  return w;
}

torch::Tensor token_nats(const torch::Tensor& logits, const torch::Tensor& targets) {
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat),
                                              targets.reshape({-1}),
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
      .to(torch::kDouble);
}

std::map<std::string, DomainEval> evaluate(model::LanguageModel& net, const data::Corpus& corpus, int64_t T,
                                           int windows, int batch, torch::Device dev, const Comm& comm) {
  c10::InferenceMode inference;  // no autograd bookkeeping at all, not just no gradients
  net->eval();
  std::map<std::string, DomainEval> out;
  for (const auto& [domain, offsets] : validation_windows(corpus, T, windows, comm)) {
    auto& d = out[domain];
    for (size_t i = 0; i < offsets.size(); i += batch) {
      const auto n = static_cast<int64_t>(std::min<size_t>(batch, offsets.size() - i));
      const auto w = window_batch(corpus, offsets, i, n, T).to(dev);
      model::Autocast amp(dev);
      auto o = net->forward(w.slice(1, 0, T));
      const auto targets = w.slice(1, 1).reshape({-1});
      const auto nats = token_nats(o.logits, targets);
      const auto text = corpus.byte_level ? (targets != data::kDocSeparator).to(torch::kDouble) : torch::ones_like(nats);
      d.loss_sum += nats.sum().item<double>();
      d.tokens += static_cast<double>(n * T);
      d.text_loss_sum += (nats * text).sum().item<double>();
      d.text_tokens += text.sum().item<double>();
      d.concepts += o.boundaries.defined() ? o.boundaries.sum().item<double>() : static_cast<double>(n * T);
    }
  }
  std::vector<double> sums;
  for (auto& [_, d] : out) sums.insert(sums.end(), {d.loss_sum, d.tokens, d.concepts, d.text_loss_sum, d.text_tokens});
  auto t = torch::tensor(sums, torch::kDouble);
  all_sum(comm, t);
  size_t k = 0;
  DomainEval all;
  for (auto& [_, d] : out) {
    for (double* v : {&d.loss_sum, &d.tokens, &d.concepts, &d.text_loss_sum, &d.text_tokens}) *v = t[k++].item<double>();
    all.loss_sum += d.loss_sum;
    all.tokens += d.tokens;
    all.concepts += d.concepts;
    all.text_loss_sum += d.text_loss_sum;
    all.text_tokens += d.text_tokens;
  }
  if (!out.count("all")) out["all"] = all;
  net->train();
  return out;
}

}  // namespace dlcm::train
