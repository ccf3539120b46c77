// Loss by position inside a concept (train/positions.hpp) on tiny real trainings: with fixed
// boundaries every bucket's count is known exactly; the buckets recombine to the evaluator's loss;
// the baseline is bucketed by the DLCM's concepts; bad run directories fail in one line; and
// `dlcm inspect --positions` prints the same numbers.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "corpus_fixture.hpp"
#include "tiny_config.hpp"
#include "test_util.hpp"
#include "train/checkpoint.hpp"
#include "train/eval.hpp"
#include "train/positions.hpp"
#include "train/train.hpp"

using namespace dlcm;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kT = 128;
constexpr int kR = 3;        // 128 = 42·3 + 2: every window ends inside a concept (an open one)
constexpr int kWindows = 3;  // per domain
fs::path g_root;

RunConfig tiny(Arch arch) {
  RunConfig c = test::tiny_config(arch);
  c.model.seq_len = kT;
  c.model.n_layers = 2;
  c.boundary.mode = BoundaryMode::fixed;  // concepts of exactly kR tokens from each window's start
  c.boundary.ratio = kR;
  c.train.steps = 4;
  c.train.batch_size = 4;
  c.train.warmup_steps = 1;
  c.train.eval_every = 4;
  c.train.eval_windows = kWindows;
  c.train.checkpoint_every = 4;
  c.data.dir = (g_root / "corpus").string();
  return c;
}

std::string run_dir(const std::string& name) { return (g_root / name).string(); }

class Positions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_root = test::root_with_corpus("positions-test");
    for (const auto& [name, arch] : {std::pair{"dlcm", Arch::dlcm}, std::pair{"base", Arch::baseline}}) {
      train::TrainOptions o;
      o.run_dir = run_dir(name);
      o.threads = 1;
      o.quiet = true;
      train::train(tiny(arch), o);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(g_root); }

  static PositionLoss analyse(bool with_baseline) {
    train::PositionOptions o;
    o.run_dir = run_dir("dlcm");
    if (with_baseline) o.baseline_run_dir = run_dir("base");
    o.max_length = 4;
    o.threads = 1;
    return train::position_loss(o);
  }
};

void expect_cell_sum(const PositionCell& got, const std::vector<const PositionCell*>& parts) {
  PositionCell sum;
  for (const auto* p : parts) sum.count += p->count, sum.loss_sum += p->loss_sum, sum.baseline_loss_sum += p->baseline_loss_sum;
  EXPECT_EQ(got.count, sum.count);
  EXPECT_NEAR(got.loss_sum, sum.loss_sum, 1e-9 * got.loss_sum);
  EXPECT_NEAR(got.baseline_loss_sum, sum.baseline_loss_sum, 1e-9 * std::abs(got.baseline_loss_sum) + 1e-12);
}

}  // namespace

// A window of 129 tokens cut every 3: concept [0,3) holds targets 1 (internal) and 2 (last);
// concepts [3,6) … [123,126) are 41 closed concepts of three targets; [126,129) runs past the
// window, so targets 126..128 are open. Per window: 41 first, 42 internal, 42 last, 3 open.
TEST_F(Positions, FixedBoundariesGiveExactCountsPerBucket) {
  const auto r = analyse(false);
  double windows = 0;  // the evaluator's: kWindows in each domain whose validation text has room
  const data::Corpus corpus = data::load_corpus(tiny(Arch::dlcm).data, 256);
  for (const auto& d : train::validation_windows(corpus, kT, kWindows)) windows += static_cast<double>(d.offsets.size());
  EXPECT_GE(windows, 2 * kWindows);
  EXPECT_EQ(r.windows, kWindows);
  EXPECT_EQ(r.all.count, windows * kT);
  EXPECT_EQ(r.single.count, 0);
  EXPECT_EQ(r.first.count, windows * 41);
  EXPECT_EQ(r.internal.count, windows * 42);
  EXPECT_EQ(r.last.count, windows * 42);
  EXPECT_EQ(r.open.count, windows * 3);
  ASSERT_EQ(r.by_length.size(), 4u);
  for (int L : {1, 2, 4})
    for (const auto& c : r.by_length[L - 1]) EXPECT_EQ(c.count, 0) << "L = " << L;
  EXPECT_EQ(r.by_length[2][0].count, windows * 41);
  EXPECT_EQ(r.by_length[2][1].count, windows * 42);
  EXPECT_EQ(r.by_length[2][2].count, windows * 42);
  for (const auto& c : r.longer) EXPECT_EQ(c.count, 0);
  // The evaluator's ratio: boundaries over the 128 inputs, 43 per window.
  EXPECT_EQ(r.concepts, windows * 43);
  EXPECT_DOUBLE_EQ(r.ratio(), 128.0 / 43.0);
  EXPECT_FALSE(r.has_baseline());
  EXPECT_EQ(r.first.baseline_loss_sum, 0);
}

// The classes partition every target, the length table partitions the closed ones, and the mean
// over all of them is the validation loss evaluate() reports on the same windows, for both models.
TEST_F(Positions, BucketMeansRecombineToTheEvaluatorsLoss) {
  const auto r = analyse(true);
  expect_cell_sum(r.all, {&r.single, &r.first, &r.internal, &r.last, &r.open});
  std::vector<const PositionCell*> closed{&r.longer[0], &r.longer[1], &r.longer[2]};
  for (const auto& row : r.by_length)
    for (const auto& c : row) closed.push_back(&c);
  PositionCell closed_sum;
  for (const auto* c : {&r.single, &r.first, &r.internal, &r.last})
    closed_sum.count += c->count, closed_sum.loss_sum += c->loss_sum, closed_sum.baseline_loss_sum += c->baseline_loss_sum;
  expect_cell_sum(closed_sum, closed);

  const data::Corpus corpus = data::load_corpus(tiny(Arch::dlcm).data, 256);
  for (const char* name : {"dlcm", "base"}) {
    const RunConfig cfg = load_run_config(run_dir(name) + "/config.toml");
    auto net = train::load_trained(run_dir(name), cfg);
    const auto all = train::evaluate(net, corpus, kT, kWindows, 4, torch::kCPU).at("all");
    EXPECT_EQ(all.tokens, r.all.count);
    const double mean = std::string(name) == "dlcm" ? r.all.loss() : r.all.baseline_loss();
    // The DLCM's T + 1-token pass gives the evaluator's logits up to float rounding.
    EXPECT_NEAR(mean, all.loss(), 1e-6 * all.loss()) << name;
    if (std::string(name) == "dlcm") {
      EXPECT_EQ(all.concepts, r.concepts);
    }
  }
}

// The baseline has no concepts: its losses go to the buckets of the DLCM's. With boundaries every
// kR tokens, the "first" bucket holds targets j = 3, 6, …, 123 of each window: summed by hand
// from the baseline's own per-token losses, they are the bucket's baseline sum.
TEST_F(Positions, BaselineIsBucketedByTheDlcmsConcepts) {
  const auto with = analyse(true), without = analyse(false);
  EXPECT_EQ(with.first.count, without.first.count);
  EXPECT_EQ(with.internal.count, without.internal.count);
  EXPECT_EQ(with.open.count, without.open.count);
  EXPECT_DOUBLE_EQ(with.first.loss_sum, without.first.loss_sum);

  const RunConfig cfg = load_run_config(run_dir("base") + "/config.toml");
  auto net = train::load_trained(run_dir("base"), cfg);
  const data::Corpus corpus = data::load_corpus(cfg.data, 256);
  torch::NoGradGuard no_grad;
  double first = 0, open = 0;
  for (const auto& [domain, offsets] : train::validation_windows(corpus, kT, kWindows)) {
    const auto w = train::window_batch(corpus, offsets, 0, static_cast<int64_t>(offsets.size()), kT);
    const auto nats = train::token_nats(net->forward(w.slice(1, 0, kT)).logits, w.slice(1, 1)).view({-1, kT});
    for (int64_t b = 0; b < nats.size(0); ++b)
      for (int64_t j = 1; j <= kT; ++j) {
        const double n = nats[b][j - 1].item<double>();
        if (j >= 126) open += n;
        else if (j % kR == 0) first += n;
      }
  }
  EXPECT_NEAR(with.first.baseline_loss_sum, first, 1e-9 * first);
  EXPECT_NEAR(with.open.baseline_loss_sum, open, 1e-9 * open);
  EXPECT_GT(with.first.baseline_loss(), 0);
}

TEST_F(Positions, BadRunDirectoriesGiveOneLineErrors) {
  auto message = [](const std::string& run, const std::string& baseline = "") {
    train::PositionOptions o;
    o.run_dir = run;
    o.baseline_run_dir = baseline;
    try {
      train::position_loss(o);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto expect_one_line = [](const std::string& m, const std::vector<std::string>& parts) {
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << m << " lacks " << p;
  };
  expect_one_line(message(run_dir("nowhere")), {run_dir("nowhere") + "/config.toml"});
  expect_one_line(message(run_dir("base")), {run_dir("base") + "/config.toml", "model.arch", "DLCM run"});
  const auto bare = g_root / "no-checkpoint";
  fs::create_directories(bare);
  fs::copy_file(g_root / "dlcm" / "config.toml", bare / "config.toml");
  expect_one_line(message(bare.string()), {(bare / "checkpoint.pt").string(), "missing checkpoint"});
  // A baseline on other windows is refused before any model is loaded.
  const auto other = g_root / "other-length";
  fs::create_directories(other);
  RunConfig longer = tiny(Arch::baseline);
  longer.model.seq_len = 64;
  std::ofstream(other / "config.toml") << to_toml(longer);
  expect_one_line(message(run_dir("dlcm"), other.string()),
                  {(other / "config.toml").string(), "model.seq_len", "\"64\"", "\"128\""});
}

// The CLI prints the analysis (JSON and a table) and `--text` keeps working beside it.
TEST_F(Positions, InspectCliPrintsThePositionsAsJsonAndTable) {
  const auto r = analyse(true);
  const std::string base = std::string(DLCM_BIN) + " inspect --threads 1 --run-dir " + test::shell_quote(run_dir("dlcm"));
  const auto js = test::run_command(base + " --positions --max-length 4 --json --baseline " +
                                    test::shell_quote(run_dir("base")));
  ASSERT_EQ(js.code, 0) << js.out;
  const auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j["targets"].get<double>(), r.all.count);
  EXPECT_EQ(j["bucketed_by"], "target");
  EXPECT_EQ(j["classes"]["first"]["count"].get<double>(), r.first.count);
  EXPECT_NEAR(j["classes"]["internal"]["loss"].get<double>(), r.internal.loss(), 1e-12);
  EXPECT_NEAR(j["classes"]["last"]["delta"].get<double>(), r.last.loss() - r.last.baseline_loss(), 1e-12);
  EXPECT_TRUE(j["classes"]["single"]["loss"].is_null());  // no single-token concept at fixed R = 3
  EXPECT_EQ(j["by_length"][2]["concepts"].get<double>(), r.by_length[2][2].count);
  EXPECT_EQ(j["by_length"][2]["positions"].size(), 3u);
  // What the report reads back from the trainer's output (core's reader) is the analysis itself.
  const auto back = position_loss_from_json(j);
  EXPECT_EQ(back.run_dir, r.run_dir);
  EXPECT_EQ(back.baseline_run_dir, r.baseline_run_dir);
  EXPECT_EQ(back.seq_len, kT);
  EXPECT_EQ(back.windows, r.windows);
  EXPECT_EQ(back.max_length, 4);
  EXPECT_EQ(back.concepts, r.concepts);
  const auto same = [](const PositionCell& a, const PositionCell& b) {
    EXPECT_EQ(a.count, b.count);
    EXPECT_NEAR(a.loss_sum, b.loss_sum, 1e-12 * b.loss_sum);
    EXPECT_NEAR(a.baseline_loss_sum, b.baseline_loss_sum, 1e-12 * b.baseline_loss_sum);
  };
  const auto classes = position_classes(r), read = position_classes(back);
  for (size_t i = 0; i < classes.size(); ++i) same(*read[i].second, *classes[i].second);
  for (int L = 1; L <= 4; ++L)
    for (int k = 0; k < L; ++k) same(back.by_length[L - 1][k], r.by_length[L - 1][k]);

  const auto table = test::run_command(base + " --positions --max-length 4");
  ASSERT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find(fmt::format("{:<9} {:>8}", "first", r.first.count)), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(fmt::format("{:.4f}", r.first.loss())), std::string::npos) << table.out;

  const auto text = test::run_command(base + " --text 'hello world'");
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("11 tokens"), std::string::npos) << text.out;
  const auto neither = test::run_command(base + " 2>&1");
  EXPECT_NE(neither.code, 0);
  EXPECT_NE(neither.out.find("give --text TEXT or --positions"), std::string::npos) << neither.out;
  const auto wrong = test::run_command(std::string(DLCM_BIN) + " inspect --positions --run-dir " +
                                       test::shell_quote(run_dir("base")) + " 2>&1");
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.out.find("model.arch is baseline"), std::string::npos) << wrong.out;
}
