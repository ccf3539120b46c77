#pragma once
// Validation loss and bits per byte over fixed windows of each domain (train() runs it; the tests
// pin it on hand-made corpora). LibTorch.
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "data/corpus.hpp"
#include "model/model.hpp"
#include "train/comm.hpp"

namespace dlcm::train {

struct DomainEval {
  double loss_sum = 0, tokens = 0, concepts = 0;  // nats summed over every target; targets; concepts
  double text_loss_sum = 0, text_tokens = 0;      // the same over the targets that are text: on a
                                                  // byte-level corpus, all but the document separator
  // Mean nats per target, separators included: the quantity training minimises, so that training
  // and validation losses compare (and the scaling fits see what they always saw).
  double loss() const { return tokens > 0 ? loss_sum / tokens : 0; }
  // Bits per byte of text: the separator (written before each document, data/corpus.hpp) is not a
  // byte of any document, so predicting it is left out of both the bits and the bytes.
  double bpb() const { return text_tokens > 0 ? text_loss_sum / text_tokens / std::log(2.0) : 0; }
  double ratio() const { return concepts > 0 ? tokens / concepts : 1; }
};

// One domain's validation windows: where each window of T + 1 tokens starts in corpus.val.
struct DomainWindows {
  std::string domain;
  std::vector<int64_t> offsets;
};
// Fixed, evenly spaced windows per domain (`windows` each; a domain shorter than one window has
// none), the rank's share of them (every size-th). The windows evaluate() and the analyses read.
std::vector<DomainWindows> validation_windows(const data::Corpus& corpus, int64_t T, int windows, const Comm& comm = {});

// Windows offsets[first, first + n) of corpus.val as a [n, T + 1] int64 tensor (inputs and targets).
torch::Tensor window_batch(const data::Corpus& corpus, const std::vector<int64_t>& offsets, size_t first, int64_t n,
                           int64_t T);
// Nats of each target, flattened [B·T] in double, from logits [B, T, V] and targets [B, T].
torch::Tensor token_nats(const torch::Tensor& logits, const torch::Tensor& targets);

// Fixed, evenly spaced validation windows per domain (`windows` of T + 1 tokens each): the same
// windows at every evaluation. Data-parallel ranks take every size-th window and sum their results.
// "all" pools every domain's windows (sums of nats over sums of targets, and of bytes for bpb): each
// domain has the same number of windows, so it weighs by the targets (bytes) in its windows.
std::map<std::string, DomainEval> evaluate(model::LanguageModel& net, const data::Corpus& corpus, int64_t T,
                                           int windows, int batch, torch::Device dev, const Comm& comm = {});

}  // namespace dlcm::train
