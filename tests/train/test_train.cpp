// Training end to end on the real corpus: determinism, the Global Parser hitting its target,
// exact resume, micro-batch equivalence, divergence recorded, the run directory's contract.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/corpus.hpp"
#include "model/model.hpp"
#include "train/eval.hpp"
#include "train/inspect.hpp"
#include "train/train.hpp"
#include "corpus_fixture.hpp"
#include "tiny_config.hpp"

using namespace dlcm;
namespace fs = std::filesystem;

namespace {

fs::path g_root;

class TrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_root = test::root_with_corpus("train-test", 200000);
  }
  static void TearDownTestSuite() { fs::remove_all(g_root); }

  static RunConfig tiny(Arch arch = Arch::dlcm) {
    RunConfig c = test::tiny_config(arch);
    c.model.seq_len = 128;
    c.model.n_layers = 2;
    c.train.steps = 6;
    c.train.batch_size = 8;
    c.train.warmup_steps = 2;
    c.train.eval_every = 3;
    c.train.eval_windows = 2;
    c.train.checkpoint_every = 3;
    c.data.dir = (g_root / "corpus").string();
    return c;
  }
  static train::TrainOptions opts(const std::string& run) {
    train::TrainOptions o;
    o.run_dir = (g_root / run).string();
    o.threads = 1;
    o.quiet = true;
    return o;
  }
};

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_F(TrainTest, SameSeedSameThreadsGivesIdenticalLosses) {
  for (Arch arch : {Arch::dlcm, Arch::baseline}) {
    const auto a = train::train(tiny(arch), opts(std::string("det-a-") + name(arch)));
    const auto b = train::train(tiny(arch), opts(std::string("det-b-") + name(arch)));
    ASSERT_EQ(a.train_losses.size(), 6u);
    EXPECT_EQ(a.train_losses, b.train_losses);
    EXPECT_EQ(a.final_val_loss, b.final_val_loss);
    // And it learns something: bytes start near ln 256 = 5.55 nats.
    EXPECT_LT(a.train_losses.back(), a.train_losses.front());
  }
}

TEST_F(TrainTest, ResumedRunMatchesUninterruptedRunExactly) {
  const auto full = train::train(tiny(), opts("resume-full"));
  auto o = opts("resume-split");
  o.stop_at_step = 4;  // between checkpoints: resume must replay from step 3
  const auto first = train::train(tiny(), o);
  EXPECT_EQ(first.status, train::RunStatus::interrupted);
  EXPECT_EQ(read_json(g_root / "resume-split" / "result.json")["status"], "interrupted");
  o.stop_at_step = -1;
  const auto second = train::train(tiny(), o);
  EXPECT_EQ(second.status, train::RunStatus::completed);
  EXPECT_EQ(second.steps, 6);
  EXPECT_EQ(second.train_losses.back(), full.train_losses.back());
  EXPECT_EQ(second.final_val_loss, full.final_val_loss);
}

TEST_F(TrainTest, MicroBatchesGiveTheSameStepsAsOneBatch) {
  // Global Parser statistics span all micro-batches, so accumulation changes nothing but rounding.
  auto one = tiny();
  auto two = tiny();
  two.train.micro_batches = 4;
  const auto a = train::train(one, opts("micro-1"));
  const auto b = train::train(two, opts("micro-4"));
  ASSERT_EQ(a.train_losses.size(), b.train_losses.size());
  for (size_t i = 0; i < a.train_losses.size(); ++i) EXPECT_NEAR(a.train_losses[i], b.train_losses[i], 2e-4) << i;
}

TEST_F(TrainTest, RunDirectoryHoldsTheContractedFiles) {
  train::train(tiny(), opts("contract"));
  const fs::path d = g_root / "contract";
  for (const char* f : {"config.toml", "log.txt", "metrics.sqlite", "checkpoint.pt", "result.json"})
    EXPECT_TRUE(fs::exists(d / f)) << f;
  const auto r = read_json(d / "result.json");
  for (const char* k : {"status", "steps", "tokens", "n_params", "n_params_concept", "flops_per_token",
                        "final_train_loss", "final_val_loss", "val_bpb", "realised_ratio"})
    EXPECT_TRUE(r.contains(k)) << k;
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["tokens"].get<double>(), 6.0 * 8 * 128);
  // Passes over the training split: tokens over the corpus's training tokens (2 bytes each).
  const double train_tokens = static_cast<double>(fs::file_size(g_root / "corpus" / "train.bin")) / 2;
  EXPECT_DOUBLE_EQ(r["epochs"].get<double>(), 6.0 * 8 * 128 / train_tokens);
  EXPECT_EQ(r["val_bpb"], r["domains"]["all"]["val_bpb"]);  // bits per byte of text (eval.hpp)
  EXPECT_TRUE(r["domains"].contains("casual-zh"));
  // A different config in the same directory is refused, not mixed in.
  auto other = tiny();
  other.train.lr = 1e-2;
  EXPECT_THROW(train::train(other, opts("contract")), std::runtime_error);
}

TEST_F(TrainTest, DivergingRunIsRecordedAsDiverged) {
  auto c = tiny(Arch::baseline);
  c.train.lr = 50.0;
  c.train.grad_clip = 0;
  c.train.diverge_loss = 8.0;
  c.train.steps = 30;
  const auto s = train::train(c, opts("diverge"));
  EXPECT_EQ(s.status, train::RunStatus::diverged);
  EXPECT_EQ(read_json(g_root / "diverge" / "result.json")["status"], "diverged");
}

TEST_F(TrainTest, InspectReportsBoundariesAndNextTokenLogProbs) {
  train::train(tiny(), opts("inspect"));
  const std::string dir = (g_root / "inspect").string();
  const std::string text = "The quick brown fox jumps over the lazy dog.";
  const auto r = train::inspect(dir, text, 1);
  // The text's bytes, one entry each (it fits in seq_len).
  ASSERT_EQ(r.tokens.size(), text.size());
  for (size_t i = 0; i < text.size(); ++i) EXPECT_EQ(r.tokens[i], static_cast<unsigned char>(text[i])) << i;
  ASSERT_EQ(r.boundaries.size(), text.size());
  ASSERT_EQ(r.boundary_prob.size(), text.size());
  ASSERT_EQ(r.next_token_logprob.size(), text.size() - 1);
  // Thresholded boundaries: the first byte always opens a concept, any other where its boundary
  // probability reaches 0.5.
  EXPECT_EQ(r.boundaries[0], 1);
  for (size_t i = 1; i < text.size(); ++i) EXPECT_EQ(r.boundaries[i], r.boundary_prob[i] >= 0.5 ? 1 : 0) << i;
  // Entry i is log p(token i+1 | tokens 0..i): the text after token i+1 does not change it...
  const std::string head = text.substr(0, 12);
  const auto h = train::inspect(dir, head, 1);
  for (size_t i = 0; i + 1 < head.size(); ++i) EXPECT_NEAR(h.next_token_logprob[i], r.next_token_logprob[i], 1e-5) << i;
  // ...and over every byte token i+1 could be, the probabilities sum to one.
  double total = 0;
  for (int b = 0; b < 256; ++b) {
    std::string t = head;
    t.back() = static_cast<char>(b);
    const auto lp = train::inspect(dir, t, 1).next_token_logprob;
    for (size_t i = 0; i + 2 < head.size(); ++i) ASSERT_NEAR(lp[i], h.next_token_logprob[i], 1e-5) << b << " " << i;
    total += std::exp(lp.back());
  }
  EXPECT_NEAR(total, 1.0, 1e-4);
}

TEST_F(TrainTest, GlobalParserRealisesTheTargetRatioWithinTenPercent) {
  // Default boundary settings. The Global Parser controls the realised rate of the training
  // batches (it oscillates around the target; the last 20 steps are averaged); thresholded
  // inference boundaries on the validation split of every domain follow it less tightly.
  auto c = tiny();
  c.boundary.ratio = 4.0;
  c.train.steps = 150;
  c.train.batch_size = 16;
  c.train.warmup_steps = 10;
  c.train.eval_every = 150;
  c.train.checkpoint_every = 150;
  c.train.eval_windows = 8;
  auto o = opts("ratio");  // one thread: CTest runs tests side by side
  const auto s = train::train(c, o);
  EXPECT_NEAR(s.train_realised_ratio, 4.0, 0.4);
  EXPECT_NEAR(s.realised_ratio, 4.0, 0.8);
  // The whole run's ratio (what flops_per_token and the fits use) is tokens / concepts over every
  // step: the first steps' near-empty segmentations must not drag it far from the target.
  const double run_ratio = read_json(g_root / "ratio" / "result.json")["run_mean_ratio"].get<double>();
  EXPECT_NEAR(run_ratio, 4.0, 0.6);
  std::printf("realised ratio %.3f on validation, %.3f in training (target 4), %.3f over the run, val loss %.3f\n",
              s.realised_ratio, s.train_realised_ratio, run_ratio, s.final_val_loss);
  EXPECT_LT(s.final_val_loss, 3.2);  // it learned while hitting the ratio
}

// A model whose logits are the same at every position: the residual stream is a constant embedding
// (every block's output projection is zero) and the LM head gives the document separator logit
// ln 130, byte 1 logit ln 128 and every other byte 0, so p(separator) = 130/512, p(1) = 1/4 and
// p(any other byte) = 1/512: 2 and 9 bits.
TEST(Evaluation, BitsPerByteLeaveOutTheDocumentSeparatorAndPoolDomainsByBytes) {
  RunConfig c;
  c.model.arch = Arch::baseline;
  c.model.seq_len = 8;
  c.model.d_token = 16;
  c.model.n_heads_token = 2;
  c.model.n_layers = 1;
  model::LanguageModel net(c.model, c.boundary);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.zero_();
    net->tok_emb.fill_(1.0);
    net->final_norm->weight.fill_(1.0);
    net->lm_head[data::kDocSeparator].fill_(std::log(130.0) / 16);
    net->lm_head[1].fill_(std::log(128.0) / 16);
  }
  data::Corpus corpus;
  corpus.byte_level = true;
  // One window of T + 1 = 9 tokens per domain. code: targets 5 6 | 7 8 | 9 10 11 with two separators
  // among them; prose: eight 1s after its separator.
  corpus.val = {0, 5, 6, 0, 7, 8, 0, 9, 10,  //
                0, 1, 1, 1, 1, 1, 1, 1, 1};
  corpus.val_domains = {{"code", 0, 9}, {"prose", 9, 18}};
  const auto e = train::evaluate(net, corpus, 8, 1, 4, torch::kCPU);
  const double ln2 = std::log(2.0), sep = std::log(512.0 / 130);  // nats of a separator target
  EXPECT_NEAR(e.at("code").bpb(), 9.0, 1e-5);  // was (2·1.977 + 6·9)/8 = 7.244 with the separators
  EXPECT_NEAR(e.at("prose").bpb(), 2.0, 1e-5);
  EXPECT_NEAR(e.at("all").bpb(), (6 * 9.0 + 8 * 2.0) / 14, 1e-5);  // 5.0: by bytes, not (9 + 2)/2
  // The loss in nats keeps every target, separators included (the training objective).
  EXPECT_NEAR(e.at("code").loss(), (2 * sep + 6 * 9 * ln2) / 8, 1e-5);
  EXPECT_NEAR(e.at("prose").loss(), 2 * ln2, 1e-5);
  EXPECT_NEAR(e.at("all").loss(), ((2 * sep + 6 * 9 * ln2) + 8 * 2 * ln2) / 16, 1e-5);
  EXPECT_EQ(e.at("all").text_tokens, 14);
  EXPECT_EQ(e.at("all").tokens, 16);
}
