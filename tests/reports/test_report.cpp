// dlcm report: every section from an ingested sweep, hostile database text escaped, nothing that
// reaches the network, and a page that Chromium renders to something other than a blank image.
#include <gtest/gtest.h>
#include <png.h>

#include <set>

#include "core/files.hpp"
#include "reports/report.hpp"
#include "reports/verify.hpp"
#include "study_fixture.hpp"
#include "test_util.hpp"

using namespace dlcm;
namespace fs = std::filesystem;

namespace {

const std::string kHostile = "<script>alert(\"x\")</script> & 'q'\nnaïve 中文 </td>";

// One sweep with a hostile run label and μP studies following the JSON contract of `dlcm mup`.
fs::path make_db(const std::string& name, const std::string& sweep = "study") {
  const auto dir = test::temp_dir(name);
  auto db = storage::open_central((dir / "dlcm.db").string());
  test::fill_study(db, dir, sweep, kHostile);
  for (const char* par : {"mup", "standard"}) {
    nlohmann::json curves = nlohmann::json::array();
    for (int w : {64, 128, 256})
      for (const char* fam : {"logits", "attn_out"})
        for (int step : {1, 3})
          curves.push_back({{"family", fam}, {"width_token", w}, {"width_concept", 2 * w}, {"step", step},
                            {"mean_abs", std::string(par) == "mup" ? 1.0 : 0.01 * w}});
    storage::store_mup_study(db, "coord-check", "cc",
                             nlohmann::json{{"parametrisation", par},
                                            {"widths", {{"token", {64, 128, 256}}, {"concept", {128, 256, 512}}}},
                                            {"steps", 3}, {"seeds", 1}, {"slopes", {{"logits", 0.0}}},
                                            {"curves", curves}}
                                 .dump());
  }
  storage::store_mup_study(db, "lr-transfer", kHostile, R"({"name": "x", "results": [
      {"parametrisation": "mup", "axis": "both", "width_token": 64, "width_concept": 128, "lrs": [1e-3, 3e-3, 1e-2],
       "losses": [2.5, 2.2, null], "best_lr": 3e-3, "best_lr_lo": null, "best_lr_hi": null},
      {"parametrisation": "mup", "axis": "both", "width_token": 128, "width_concept": 256, "lrs": [1e-3, 3e-3, 1e-2],
       "losses": [2.4, 2.1, 2.6], "best_lr": 3e-3, "best_lr_lo": null, "best_lr_hi": null}],
    "shifts": [{"parametrisation": "mup", "axis": "both", "log2_shift": 0.1}],
    "best_base_lr": {"mup": 3e-3, "standard": null}})");
  return dir;
}

reports::ReportOptions options() {
  reports::ReportOptions opt;
  opt.budgets = {1e16};
  opt.replicates = 4;
  opt.zero_offsets = true;
  opt.segmentation_run = kHostile;
  opt.segmentations.push_back({"tech-zh", {0xE4, 0xB8, 0xAD, 'a', '<', 'b'}, {1, 0, 1, 1, 1, 0}});
  return opt;
}

// Fraction of non-white pixels and the number of distinct colours of an RGB(A) PNG.
std::pair<double, std::size_t> png_ink(const std::string& path) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str())) return {0, 0};
  img.format = PNG_FORMAT_RGB;
  std::vector<unsigned char> px(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, px.data(), 0, nullptr)) return {0, 0};
  std::size_t ink = 0;
  std::set<uint32_t> colours;
  for (std::size_t i = 0; i + 2 < px.size(); i += 3) {
    const uint32_t c = px[i] << 16 | px[i + 1] << 8 | px[i + 2];
    ink += c != 0xFFFFFF;
    colours.insert(c);
  }
  return {static_cast<double>(ink) / (px.size() / 3), colours.size()};
}

}  // namespace

TEST(HtmlEscape, NeutralisesMarkupAndBadBytes) {
  EXPECT_EQ(reports::html_escape("<script>a&b</script>"), "&lt;script&gt;a&amp;b&lt;/script&gt;");
  EXPECT_EQ(reports::html_escape("\"it's\""), "&quot;it&#39;s&quot;");
  EXPECT_EQ(reports::html_escape("line\nnext\ttab"), "line\nnext\ttab");
  EXPECT_EQ(reports::html_escape("naïve 中文 😀"), "naïve 中文 😀");  // valid UTF-8 passes
  EXPECT_EQ(reports::html_escape(std::string("a\xE4\xB8") + "b"), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");  // cut short
  EXPECT_EQ(reports::html_escape(std::string("\xC0\xAF")), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(reports::html_escape(std::string("x\x01y")), "x\xEF\xBF\xBDy");
}

TEST(Report, HasEverySectionAndEscapesDatabaseText) {
  const std::string sweep = "<b>s&amp;</b>";
  const auto dir = make_db("report", sweep);
  auto db = storage::open_central((dir / "dlcm.db").string());
  const std::string html = reports::render_report(db, sweep, options());
  EXPECT_NE(html.find("<title>dlcm report: &lt;b&gt;s&amp;amp;&lt;/b&gt;</title>"), std::string::npos);
  EXPECT_EQ(html.find("<b>s"), std::string::npos);
  for (const char* id : {"id=runs", "id=compute", "id=curves", "id=fit", "id=frontier", "id=recommend", "id=mup", "id=ratio",
                         "id=segmentation"})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_NE(html.find("Held-out budget"), std::string::npos);
  // The answer leads; unverified, it says how to verify it (the sweep name quoted for the shell).
  EXPECT_LT(html.find("<div class=answer id=answer>"), html.find("class=summary"));
  EXPECT_NE(html.find("<span class=warn>not verified</span>: <code>dlcm verify --sweep &#39;&lt;b&gt;s&amp;amp;&lt;/b&gt;&#39; "
                      "--budget 1e+16</code>"),
            std::string::npos);
  // Training curves, one plot per budget (the fixture records one training loss per run).
  for (const char* t : {"C = 1e+13: training loss", "C = 3e+13: training loss", "C = 1e+14: training loss"})
    EXPECT_NE(html.find(t), std::string::npos) << t;
  // isoFLOP curves one family at a time: the baseline, and DLCM at each target ratio; never pooled.
  EXPECT_NE(html.find("isoFLOP curves of the baseline"), std::string::npos);
  EXPECT_NE(html.find("isoFLOP curves of DLCM at target R = 4"), std::string::npos);
  // At R = 2 the fixture's grid does not bracket the optimum: the budgets are left out, named.
  EXPECT_NE(html.find("No isoFLOP fit of DLCM at target R = 2"), std::string::npos);
  EXPECT_NE(html.find("outside the runs&#39; range"), std::string::npos);
  EXPECT_EQ(html.find("isoFLOP curves: loss against N per budget"), std::string::npos);
  // The run table shows planned and realised compute side by side, each run its own (one label
  // stands at every budget): the fixture's DLCM runs spend less than planned at 1.1·R.
  EXPECT_NE(html.find("<th>planned C</th><th>realised C</th>"), std::string::npos);
  // (The fixture's runs record no epochs: "–".)
  for (const char* row : {"<td>1e+13</td><td>1.44e+05</td><td>0.742</td><td>4</td><td>4.2</td><td>1.779e+07</td>"
                          "<td>–</td><td>1e+13</td><td>9.689e+12</td>",
                          "<td>1e+14</td><td>1.44e+05</td><td>0.742</td><td>4</td><td>4.2</td><td>1.779e+08</td>"
                          "<td>–</td><td>1e+14</td><td>9.689e+13</td>"})
    EXPECT_NE(html.find(row), std::string::npos) << row;
  // One plot per family, each with both parametrisations (and the stored slope where there is one).
  // The summary's recommendation (100× the largest fitted budget) carries its warnings with it.
  EXPECT_NE(html.find("Read it with its warnings:</p><ul class=note><li>budget 1e+16 FLOPs is 101x"), std::string::npos);
  EXPECT_NE(html.find("coordinate check: logits, step 3"), std::string::npos);
  EXPECT_NE(html.find("coordinate check: attn_out, step 3"), std::string::npos);
  EXPECT_NE(html.find("mup (slope 0.00)"), std::string::npos);
  EXPECT_NE(html.find("standard (slope 0.00)"), std::string::npos);
  EXPECT_NE(html.find("learning-rate transfer (mup, axis both)"), std::string::npos);
  EXPECT_NE(html.find("(excluded from fits)"), std::string::npos);
  // Tokens per concept: code's final ratio is the run's R; casual-zh's 1.5x (study_fixture.hpp).
  EXPECT_NE(html.find("<td>casual-zh</td><td>3 (n=27)</td><td>6 (n=27)</td>"), std::string::npos);
  // Segmentation: 中 | a | <b, the boundary inside 中 shown at its start.
  EXPECT_NE(html.find("<span class=c0>中</span><span class=c1>a</span><span class=c0>&lt;b</span>"),
            std::string::npos);
  // Hostile text appears only escaped, in tables and notes alike.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("alert(\"x\")"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;\nnaïve 中文 &lt;/td&gt;"),
            std::string::npos);
  EXPECT_EQ(std::count(html.begin(), html.end(), '<') - std::count(html.begin(), html.end(), '>'), 0);
  // Offline: no URL of any kind, and every figure is an inline gnuplot SVG.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<?xml"), std::string::npos);
  EXPECT_GE(std::count_if(html.begin(), html.end(), [p = html.data(), &html](const char& c) {
              return html.compare(&c - p, 4, "<svg") == 0;
            }),
            10);
  EXPECT_NE(html.find("Produced by GNUPLOT"), std::string::npos);
}

// The first screen is the answer: the allocation at the verified budget, its prediction, compute
// multiplier and the verification against it, with what makes it doubtful; then everything else.
TEST(Report, LeadsWithTheAnswerAndItsVerification) {
  const auto dir = make_db("report-answer");
  auto db = storage::open_central((dir / "dlcm.db").string());
  reports::Verification v;
  v.sweep = "study", v.verify_sweep = "study-verify", v.budget = 1e16, v.recommendation_id = 42;
  v.predicted_loss = 4.0, v.interval_low = 3.9, v.interval_high = 4.1, v.realised_loss = 4.5;
  v.relative_error = (4.5 - 4.0) / 4.0, v.inside_interval = false, v.steps = 120;
  v.hash = "0123456789abcdef", v.label = "verify <d64>", v.hyperparameters = "x";
  storage::store_verification(db, v.sweep, v.budget, v.hash, reports::to_json(v).dump());
  auto opt = options();
  opt.budgets = {1e16, 1e17};  // the verified budget is not the largest asked: it still leads
  const std::string html = reports::render_report(db, "study", opt);
  const auto box = html.find("<div class=answer id=answer>");
  ASSERT_NE(box, std::string::npos);
  const auto end = html.find("</div>", box);
  EXPECT_LT(html.find("<h1>"), box);
  for (const char* later : {"class=summary", "id=runs", "id=compute", "id=recommend", "<figure"})
    EXPECT_LT(end, html.find(later)) << later;
  const std::string answer = html.substr(box, end - box);
  EXPECT_NE(answer.find("The answer at C = 1e+16 FLOPs"), std::string::npos) << answer;
  for (const char* row : {"<th>allocation</th>", "<th>architecture</th>", "<th>predicted loss</th>",
                          "<th>compute multiplier</th>", "<th>verification</th>"})
    EXPECT_NE(answer.find(row), std::string::npos) << row << "\n" << answer;
  EXPECT_NE(answer.find("predicted 4 [3.9, 4.1], realised 4.5: relative error +12.5%, <b>outside</b> the 90% interval "
                        "(run “verify &lt;d64&gt;”, 120 steps, recommendation 42)"),
            std::string::npos)
      << answer;
  // What the report already knows against it: the isoFLOP fits it could not make, and the warnings.
  EXPECT_NE(answer.find("No isoFLOP fit of DLCM at target R = 2"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Read it with its warnings:"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("not verified"), std::string::npos);
}

TEST(ReportCli, WritesTheFileAndChromiumRendersIt) {
  const auto dir = make_db("report-cli");
  const auto out = dir / "out" / "report.html";
  const auto r = test::run_command(fmt::format("{} report study --db {} -o {} --bootstrap 2 --budget 1e15 --zero-offsets 2>/dev/null",
                                               DLCM_BIN, test::shell_quote((dir / "dlcm.db").string()),
                                               test::shell_quote(out.string())));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, fmt::format("report: {}\n", out.string()));
  const std::string html = read_file(out.string());
  EXPECT_NE(html.find("has no checkpoint"), std::string::npos);  // the fixture's runs never trained
  if (test::run_command("command -v chromium >/dev/null").code != 0) GTEST_SKIP() << "chromium is not installed";
  const auto png = dir / "report.png";
  const auto shot = test::run_command(fmt::format(
      "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir={} --screenshot={} "
      "--window-size=1200,3000 file://{} >/dev/null 2>&1",
      test::shell_quote((dir / "chromium").string()), test::shell_quote(png.string()), out.string()));
  ASSERT_EQ(shot.code, 0);
  const auto [ink, colours] = png_ink(png.string());
  EXPECT_GT(ink, 0.03);      // text, tables and plots, not a blank page
  EXPECT_GT(colours, 20u);   // plot lines and table shading, not one flat colour
}
