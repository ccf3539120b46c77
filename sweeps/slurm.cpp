#include "sweeps/slurm.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "core/build_info.hpp"
#include "core/files.hpp"
#include "core/process.hpp"
#include "data/corpus.hpp"
#include "sweeps/launcher.hpp"

namespace fs = std::filesystem;

namespace dlcm::sweeps {
namespace {

std::string first_line(const std::string& s) {
  const auto start = s.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  return s.substr(start, s.find_first_of("\r\n", start) - start);
}

std::string join(const std::vector<int64_t>& ids) {
  std::string s;
  for (const auto id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

// Values that go into #SBATCH lines unquoted (sbatch, not the shell, reads those lines).
void check_directive(const std::string& value, const std::string& option, const std::regex& allowed) {
  if (!value.empty() && !std::regex_match(value, allowed))
    throw std::runtime_error(fmt::format("{}: \"{}\" is not a valid value", option, value));
}

std::string job_name(const std::string& sweep) {
  std::string s = "dlcm-";
  for (const unsigned char c : sweep.substr(0, 40)) s += std::isalnum(c) || c == '-' || c == '.' ? static_cast<char>(c) : '_';
  return s;
}

std::string utc_stamp() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", std::gmtime(&t));
  return buf;
}

std::optional<int> read_exit_record(const storage::SlurmTask& t) {
  std::ifstream in(fs::path(t.submission_dir) / "exit" / std::to_string(t.array_index));
  int code = 0;
  if (in >> code) return code;
  return std::nullopt;
}

}  // namespace

std::string shell_quote(const std::string& s) {
  // Inside single quotes nothing is special but the single quote itself, which is closed,
  // escaped and reopened: '\''. Newlines, $(), backticks and spaces stay literal.
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string batch_script(const BatchScript& b) {
  const auto& o = b.opt;
  std::string s = "#!/bin/bash\n";
  s += "# Written by `dlcm sweep submit`. Array task i trains the run on line i of manifest.tsv\n";
  s += "# (index<TAB>hash) in the run directory $runs/<hash>. Every value below is single-quoted data.\n";
  s += fmt::format("#SBATCH --job-name={}\n", b.job_name);
  s += fmt::format("#SBATCH --array=0-{}{}\n", b.tasks - 1, o.max_running > 0 ? fmt::format("%{}", o.max_running) : "");
  s += "#SBATCH --ntasks=1\n";
  s += fmt::format("#SBATCH --cpus-per-task={}\n", o.cpus_per_task);
  if (o.gpus_per_task > 0) s += fmt::format("#SBATCH --gpus-per-task={}\n", o.gpus_per_task);
  if (!o.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", o.partition);
  if (!o.time.empty()) s += fmt::format("#SBATCH --time={}\n", o.time);
  s += "#SBATCH --requeue\n";
  s += fmt::format("#SBATCH --signal=B:USR1@{}\n", o.signal_seconds);
  // Slurm expands %-patterns in its own output path, so the task names its log itself, below.
  s += "#SBATCH --output=/dev/null\n#SBATCH --chdir=/\n";
  s += "set -u\n";
  s += "trainer=" + shell_quote(b.trainer_binary) + "\n";
  s += "workdir=" + shell_quote(b.workdir) + "\n";
  s += "runs=" + shell_quote(b.runs_dir) + "\n";
  s += "sub=" + shell_quote(b.submission_dir) + "\n";
  s += R"(task=$SLURM_ARRAY_TASK_ID
exec >>"$sub/logs/$task.log" 2>&1
run=$(awk -F '\t' -v i="$task" '$1 == i { print $2 }' <"$sub/manifest.tsv")
case $run in ''|*[!0-9a-f]*) echo "dlcm: no run for task $task in $sub/manifest.tsv"; exit 2 ;; esac
run_dir=$runs/$run
# Relative paths in run configs (the corpus) mean what they meant where the sweep was submitted.
cd -- "$workdir" || exit 2
echo "$(date -u +%FT%TZ) task $task (job $SLURM_JOB_ID, restart ${SLURM_RESTART_COUNT:-0}) on $(hostname): run $run"
requeue=0 worker=
# USR1 comes before the time limit: the worker checkpoints and stops, the task goes back to the queue.
trap 'requeue=1; [ -n "$worker" ] && kill -USR1 "$worker"' USR1
trap '[ -n "$worker" ] && kill -TERM "$worker"' TERM
)";
  s += R"("$trainer" train --quiet --config "$run_dir/config.toml" --run-dir "$run_dir" --threads "${SLURM_CPUS_PER_TASK:-1}")";
  s += o.gpus_per_task > 0 ? " --device cuda &\n" : " &\n";
  s += R"(worker=$!
[ "$requeue" = 1 ] && kill -USR1 "$worker"
# wait returns early when a trapped signal arrives; wait again until the worker has exited.
while :; do
  wait "$worker"; code=$?
  kill -0 "$worker" 2>/dev/null || break
done
echo "$(date -u +%FT%TZ) worker exited with $code"
# The task by its array name: the last task's own job id is the whole array's.
)";
  s += fmt::format("if [ \"$requeue\" = 1 ] && [ \"$code\" = {} ]; then\n",
                   storage::code(storage::TrainExit::interrupted));
  s += R"(  scontrol requeue "${SLURM_ARRAY_JOB_ID}_$task" && exit 0
fi
# A temporary of this shell's own (pid + random), renamed over the record: never half a record.
tmp="$sub/exit/$task.tmp.$$.$RANDOM"
echo "$code" >"$tmp" && mv -f "$tmp" "$sub/exit/$task"
exit "$code"
)";
  return s;
}

storage::RunStatus resolve_state(const std::string& result_status, const std::optional<std::string>& slurm_state,
                                 std::optional<int> exit_code) {
  using storage::RunStatus, storage::ResultStatus, storage::TrainExit;
  if (storage::is_final(result_status)) return *storage::from_string<RunStatus>(result_status);
  static const std::set<std::string> kRunning = {"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT"};
  static const std::set<std::string> kTerminal = {"COMPLETED", "FAILED",    "CANCELLED", "TIMEOUT",
                                                  "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
                                                  "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED"};
  if (slurm_state && !kTerminal.count(*slurm_state))
    return kRunning.count(*slurm_state) ? RunStatus::running : RunStatus::queued;
  // The task has ended (or Slurm has forgotten it): only the run itself says how.
  if (exit_code)  // checkpointed and stopped, or the run directory was busy (nothing tried): resumable
    return *exit_code == code(TrainExit::interrupted) || *exit_code == code(TrainExit::busy) ? RunStatus::pending
                                                                                             : RunStatus::failed;
  if (result_status == to_string(ResultStatus::interrupted)) return RunStatus::pending;  // checkpointed, then stopped
  if (slurm_state == "CANCELLED" && result_status.empty()) return RunStatus::pending;  // cancelled before it trained
  return RunStatus::failed;
}

namespace {

// "YYYY-MM-DDTHH:MM:SS" as unix seconds, read as UTC or as this host's local time (Slurm prints
// local time); none for anything else (Slurm's Unknown, N/A, None).
std::optional<double> timestamp(const std::string& s, bool utc) {
  std::tm tm{};
  int n = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &n) != 6 || n != static_cast<int>(s.size()))
    return std::nullopt;
  tm.tm_year -= 1900, tm.tm_mon -= 1, tm.tm_isdst = -1;
  return static_cast<double>(utc ? timegm(&tm) : std::mktime(&tm));
}

}  // namespace

TaskStates parse_task_states(const std::string& text) {
  static const std::regex line(R"(^\s*(\d+)_(\d+|\[[0-9,\-]+(?:%\d+)?\])\|([^|\s]+)[^|]*(?:\|([^|\s]*))?.*$)");
  TaskStates out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    std::smatch m;
    if (!std::regex_match(l, m, line)) continue;
    const int64_t job = std::stoll(m[1]);
    const std::string idx = m[2];
    const TaskState state{m[3], timestamp(m[4], false)};
    if (idx[0] != '[') {
      out[{job, std::stoll(idx)}] = state;
      continue;
    }
    std::string ranges = idx.substr(1, idx.find_first_of("%]") - 1), part;
    std::istringstream parts(ranges);
    while (std::getline(parts, part, ',')) {
      const auto dash = part.find('-');
      const int64_t lo = std::stoll(part.substr(0, dash));
      const int64_t hi = dash == std::string::npos ? lo : std::stoll(part.substr(dash + 1));
      for (int64_t i = lo; i <= hi; ++i) out[{job, i}] = state;
    }
  }
  return out;
}

std::optional<double> task_started_at(const std::string& task_log) {
  static const std::regex start(R"(^(\S+)Z task \d+ \(job )");
  std::optional<double> last;
  std::istringstream in(task_log);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, start)) continue;
    if (const auto t = timestamp(m[1], true)) last = t;
  }
  return last;
}

std::optional<TaskStates> query_task_states(const std::vector<int64_t>& job_ids) {
  if (job_ids.empty()) return TaskStates{};
  const std::string ids = join(job_ids);
  // sacct knows finished tasks for good (it fails where accounting is off); squeue knows live ones
  // at once, where accounting may lag, and finished ones until MinJobAge: -r lists pending array
  // tasks one by one, -t all keeps the finished. squeue's word is the newer and wins.
  const auto acct = run_program({"sacct", "-n", "-P", "-X", "-j", ids, "-o", "JobID,State,Start"});
  const auto q = run_program({"squeue", "-h", "-r", "-t", "all", "-j", ids, "-o", "%i|%T|%S"});
  const bool all_gone = q.code != 0 && q.err.find("Invalid job id") != std::string::npos;
  if (acct.code != 0 && q.code != 0 && !all_gone) return std::nullopt;
  TaskStates states = acct.code == 0 ? parse_task_states(acct.out) : TaskStates{};
  if (q.code == 0)
    for (const auto& [task, state] : parse_task_states(q.out)) states[task] = state;
  return states;
}

namespace {

std::string task_name(const storage::SlurmTask& t) { return fmt::format("{}_{}", t.job_id, t.array_index); }

// Why a running task's worker counts as hung (silent past its limit since the task last started),
// or nothing. Its heartbeats before that start are an earlier start's.
std::optional<std::string> hung_task(const storage::SlurmTask& t, const TaskState& slurm, const std::string& run_dir,
                                     double hung_after) {
  if (slurm.state != "RUNNING" || !slurm.started) return std::nullopt;
  std::ifstream log(fs::path(t.submission_dir) / "logs" / fmt::format("{}.log", t.array_index));
  const auto started = task_started_at({std::istreambuf_iterator<char>(log), {}});
  // Not started as far as its log says, or (requeued, restarted) its script has not yet logged
  // Slurm's latest start: a start line over 30 s older than Slurm's start (the node's and
  // Slurm's clocks may differ by less) is an earlier run's, and so are the beats.
  if (!started || *started + 30 < *slurm.started) return std::nullopt;
  auto beat = read_heartbeat(run_dir);
  if (beat && beat->wall < *started) beat.reset();
  const double limit = hung_limit(hung_after, beat);
  const double silent = unix_now() - (beat ? beat->wall : *started);
  if (silent <= limit) return std::nullopt;
  return fmt::format("Slurm task {}: no heartbeat for {:.0f} s (limit {:.0f} s) at step {}: cancelled as hung",
                     task_name(t), silent, limit, beat ? beat->step : 0);
}

// The observation of collect (write: settle what is final) and observe (write nothing).
Observation settle(storage::Database& db, const std::string& sweep, bool write, std::optional<double> hung_after) {
  const auto tasks = storage::latest_slurm_tasks(db, sweep);
  const auto claims = storage::sweep_claims(db, sweep);
  // A run Slurm has: claimed by its latest task.
  auto slurm_task = [&](const std::string& hash) -> const storage::SlurmTask* {
    const auto t = tasks.find(hash);
    const auto c = claims.find(hash);
    if (t == tasks.end() || c == claims.end() || c->second.holder.slurm_task != task_name(t->second)) return nullptr;
    return &t->second;
  };
  std::set<int64_t> jobs;
  for (const auto& r : storage::sweep_runs(db, sweep))
    if (!storage::is_final(r.status))
      if (const auto* t = slurm_task(r.hash)) jobs.insert(t->job_id);
  Observation obs;
  const auto states = query_task_states({jobs.begin(), jobs.end()});
  obs.slurm_unreachable = !states;
  std::map<std::string, std::string> slurm_state, shown;  // Slurm's word, and statuses shown but not stored
  for (const auto& r : storage::sweep_runs(db, sweep)) {
    if (storage::is_final(r.status)) continue;
    const std::string found = result_status(r.run_dir);
    const auto* t = slurm_task(r.hash);
    const storage::Holder task_holder{"slurm", "", 0, t ? task_name(*t) : ""};
    if (storage::is_final(found)) {  // the run's own final word
      shown[r.hash] = found;
      if (!write) continue;
      storage::ingest_run_dir(db, r.hash, r.run_dir);
      if (t) {
        storage::end_attempt(db, r.hash, t->attempt, read_exit_record(*t), found, "", true, "");
        storage::release_claim(db, r.hash, task_holder);
      }
      continue;
    }
    if (!t || !states) continue;
    const auto s = states->find({t->job_id, t->array_index});
    std::optional<std::string> state;
    if (s != states->end()) state = slurm_state[r.hash] = s->second.state;
    const auto exit_code = read_exit_record(*t);
    const storage::RunStatus settled = resolve_state(found, state, exit_code);
    shown[r.hash] = to_string(settled);
    const auto hung = write && hung_after && settled == storage::RunStatus::running && !exit_code && s != states->end()
                          ? hung_task(*t, s->second, r.run_dir, *hung_after)
                          : std::nullopt;
    if (hung) {
      // Slurm kills what ignores its TERM after KillWait. A task scancel could not reach keeps its
      // attempt and claim: nothing is sent twice.
      const auto cancel = run_program({"scancel", task_name(*t)});
      if (cancel.code != 0) {
        obs.hung.push_back(fmt::format("{} {}: {}; scancel failed, so it is left as it is: {}", r.hash, r.label, *hung,
                                       cancel.err.substr(0, cancel.err.find('\n'))));
        continue;
      }
      if (fs::exists(r.run_dir)) storage::ingest_run_dir(db, r.hash, r.run_dir);
      storage::end_attempt(db, r.hash, t->attempt, std::nullopt, to_string(storage::AttemptEnd::hung), *hung, true,
                           to_string(storage::RunStatus::failed));
      storage::release_claim(db, r.hash, task_holder);
      shown.erase(r.hash);
      obs.hung.push_back(fmt::format("{} {}: {}", r.hash, r.label, *hung));
      continue;
    }
    if (!write || settled == storage::RunStatus::queued || settled == storage::RunStatus::running)
      continue;  // Slurm's word: shown, never stored
    // The task has ended for good: its exit record (or Slurm's end of it) is final evidence.
    if (fs::exists(r.run_dir)) storage::ingest_run_dir(db, r.hash, r.run_dir);
    // Checkpointed and stopped, cancelled, or its run directory busy: not a try.
    const bool resumable = settled == storage::RunStatus::pending;
    const bool busy = exit_code == storage::code(storage::TrainExit::busy);
    storage::end_attempt(db, r.hash, t->attempt, exit_code,
                         to_string(busy        ? storage::AttemptEnd::busy
                                   : resumable ? storage::AttemptEnd::interrupted
                                               : storage::AttemptEnd::failed),
                         fmt::format("Slurm task {} {}", task_name(*t), state ? *state : "forgotten by Slurm"),
                         !resumable, to_string(settled));
    storage::release_claim(db, r.hash, task_holder);
  }
  const auto now_claims = write ? storage::sweep_claims(db, sweep) : claims;
  for (auto& r : storage::sweep_runs(db, sweep)) {
    ObservedRun o{r, std::nullopt, "", std::nullopt};
    if (tasks.count(r.hash)) o.task = tasks.at(r.hash);
    if (slurm_state.count(r.hash)) o.slurm_state = slurm_state.at(r.hash);
    if (shown.count(r.hash) && !storage::is_final(o.run.status)) o.run.status = shown.at(r.hash);
    if (now_claims.count(r.hash)) o.claim = now_claims.at(r.hash);
    obs.runs.push_back(std::move(o));
  }
  return obs;
}

}  // namespace

Observation collect(storage::Database& db, const std::string& sweep, std::optional<double> hung_after) {
  if (hung_after && *hung_after < 0) throw std::runtime_error("--hung-after: must not be negative");
  return settle(db, sweep, true, hung_after);
}
Observation observe(storage::Database& db, const std::string& sweep) { return settle(db, sweep, false, std::nullopt); }

Submission submit_slurm(const SweepSpec& spec, const Plan& plan, storage::Database& db, const SlurmOptions& opt) {
  check_directive(opt.partition, "--partition", std::regex(R"([A-Za-z0-9_.,+\-]+)"));
  check_directive(opt.time, "--time", std::regex(R"([A-Za-z0-9:\-]+)"));
  if (opt.cpus_per_task < 1) throw std::runtime_error("--cpus-per-task: must be at least 1");
  if (opt.signal_seconds < 1) throw std::runtime_error("--signal-seconds: must be at least 1");
  if (opt.gpus_per_task < 0) throw std::runtime_error("--gpus-per-task: must not be negative");
  if (opt.max_running < 0) throw std::runtime_error("--max-running: must not be negative");
  // Before anything is registered or claimed: a build without a trainer submits nothing.
  const std::string trainer = fs::absolute(opt.trainer_binary.empty() ? trainer_exe() : opt.trainer_binary).string();

  register_plan(db, spec, plan);
  const auto obs = collect(db, spec.name);
  if (obs.slurm_unreachable)
    throw std::runtime_error("Slurm does not answer (sacct and squeue failed): nothing submitted, so nothing runs twice");
  const auto added = added_runs(db, spec);
  std::map<std::string, const PlannedRun*> planned;
  for (const auto* runs : {&plan.runs, &added})
    for (const auto& r : *runs) planned.emplace(r.hash, &r);

  Submission sub;
  // Claimed before sbatch, as a local launcher claims before it starts a worker: a run a live
  // orchestrator holds is not sent, and none sent here is started locally meanwhile. A dry run
  // claims nothing and shows what would be sent now.
  const storage::Holder submitter = this_process("slurm");
  for (const auto& o : obs.runs) {
    const auto& r = o.run;
    if (!planned.count(r.hash)) continue;  // planned by an older version of the spec
    const auto status = storage::from_string<storage::RunStatus>(r.status);
    const bool failed = status == storage::RunStatus::failed;
    if (failed && r.attempts >= spec.max_attempts) {
      sub.at_attempt_limit += 1;
      continue;
    }
    // running with no live holder: an orchestrator of an older dlcm died training it.
    const bool unfinished = status == storage::RunStatus::pending || status == storage::RunStatus::running;
    if (!(opt.resubmit_failed ? failed : failed || unfinished)) continue;
    if (opt.dry_run ? !held_by_other(o.claim, submitter) : claim(db, r, o.claim, submitter))
      sub.hashes.push_back(r.hash);
  }
  if (sub.hashes.empty()) return sub;
  auto release_all = [&] {
    for (const auto& h : sub.hashes) storage::release_claim(db, h, submitter);
  };
  try {
    // The tasks read the corpus from this working directory: missing here, every task would fail.
    for (const auto& h : sub.hashes) data::require_corpus(planned.at(h)->cfg.data);
  } catch (const std::exception&) {
    if (!opt.dry_run) release_all();
    throw;
  }

  const fs::path runs_dir = fs::absolute(spec.runs_dir);
  fs::path dir = runs_dir / "slurm" / utc_stamp();
  BatchScript b;
  b.job_name = job_name(spec.name);
  b.trainer_binary = trainer;
  b.workdir = fs::current_path().string();
  b.runs_dir = runs_dir.string();
  b.tasks = static_cast<int>(sub.hashes.size());
  b.opt = opt;
  if (opt.dry_run) {
    b.submission_dir = sub.dir = dir.string();
    sub.script = batch_script(b);
    return sub;
  }
  try {
    fs::create_directories(dir.parent_path());
    for (int n = 1; !fs::create_directory(dir); ++n) dir = runs_dir / "slurm" / fmt::format("{}-{}", utc_stamp(), n);
    b.submission_dir = sub.dir = dir.string();
    sub.script = batch_script(b);
    fs::create_directories(dir / "logs");
    fs::create_directories(dir / "exit");
    std::string manifest;
    for (size_t i = 0; i < sub.hashes.size(); ++i) {
      prepare_run_dir((runs_dir / sub.hashes[i]).string(), planned.at(sub.hashes[i])->cfg);
      manifest += fmt::format("{}\t{}\n", i, sub.hashes[i]);
    }
    write_file_atomic((dir / "manifest.tsv").string(), manifest);
    write_file_atomic((dir / "submit.sh").string(), sub.script);
  } catch (const std::exception&) {
    release_all();
    throw;
  }
  const auto r = run_program({"sbatch", "--parsable", (dir / "submit.sh").string()});
  std::smatch m;
  const std::string out = first_line(r.out);
  if (r.code != 0 || !std::regex_match(out, m, std::regex(R"((\d+)(;.*)?)"))) {
    fs::remove_all(dir);  // nothing was submitted: no folder claims otherwise
    release_all();
    throw std::runtime_error(fmt::format("sbatch refused the sweep's array: {}", first_line(r.err.empty() ? r.out : r.err)));
  }
  sub.job_id = std::stoll(m[1]);
  try {
    storage::record_slurm_submission(db, spec.name, sub.job_id, sub.dir, sub.hashes, submitter);
  } catch (const std::exception&) {
    run_program({"scancel", std::to_string(sub.job_id)});  // an array nobody tracks would run unobserved
    release_all();
    throw;
  }
  return sub;
}

}  // namespace dlcm::sweeps
