// `waitgraph run -- PROGRAM [ARGS...]`: run a program under the shim, watch
// its trace while it runs, and stop it with a diagnosis if it deadlocks.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/byte_size.h"
#include "cli/commands.h"
#include "cli/json_writer.h"
#include "cli/options.h"
#include "cli/output_file.h"
#include "cli/policy.h"
#include "cli/process_tree.h"
#include "cli/report.h"
#include "cli/report_style.h"
#include "cli/run_traces.h"
#include "cli/shim_locator.h"
#include "cli/signal_forwarding.h"
#include "trace/private_files.h"
#include "analyzer/standstill.h"

extern char** environ;

namespace waitgraph::cli {
namespace {

constexpr char kRunHelp[] = R"(usage: waitgraph run [OPTIONS] -- PROGRAM [ARGS...]

Runs PROGRAM (a Python interpreter, or anything that starts one) with the
waitgraph shim, and prints the report when it exits. Its output, input and
exit status are its own. If a cross-call-deadlock, executor-starvation or
nothing-can-move has held for --hang-timeout seconds, prints the report at
once, stops the program, and exits 3. A deadlock in any process of the
run counts (a worker of gunicorn or of a multiprocessing pool); the report
names that process, its pid and its role (master, worker N).

  --trace PATH          where the program's trace goes (default: a new
                        directory <per-user dir>/run-<pid>-XXXXXX holding
                        <pid>.wgtrace per Python process); keep it for
                        `waitgraph analyze` and `check`. Each other Python
                        process of the run writes PATH-STEM.<pid>.wgtrace
                        beside it (.<pid>.2 and on: the same pid after an
                        exec). An existing PATH is replaced only if it
                        is your own regular file.
  --trace-max SIZE      bound each trace file to SIZE (e.g. 64M, 1G): a
                        flight recorder that drops the oldest events and
                        keeps the live state (threads, loops, executors,
                        waits, locks), so the newest SIZE/2 to SIZE always
                        remain (default: unbounded, or WAITGRAPH_TRACE_MAX)
  --record-argv         record the program's arguments in the trace (by
                        default only argv[0]: arguments can hold secrets)
  --hang-timeout SECS   how long a deadlock must hold (default 2, or
                        [run] hang-timeout in ./waitgraph.toml)
  --on-hang stop|stop-tree
                        what to stop when a process of the run has been
                        deadlocked for --hang-timeout: `stop` (default) stops
                        that process, then the program (SIGTERM, so a server
                        stops its own workers; SIGKILL after 5 s), then any
                        recorded process still running; `stop-tree` stops
                        that process, then every process below the program,
                        recorded or not, at once
  --format text|json    report format (default text)
  --report FILE         write the report to FILE (default: stderr)
  --model-stats FILE    write, as JSON, how many entries the analysis keeps
                        in each of its tables (tasks, contexts, var
                        accesses, loop-bound objects...) for each process:
                        rewritten (atomically) every second while the
                        program runs and once more at its end. For checking
                        that following a long-running service stays bounded
                        ({"traces": [{"trace", "pid", "events", "kept": {...}}]})
  --source-root DIR, --color auto|always|never, --full-stacks
                        as for analyze (see `waitgraph analyze --help`)

./waitgraph.toml (see `waitgraph check --help`) and `# waitgraph: ignore[rule]`
comments apply to the report as they do for check.

The shim is switched on with PYTHONPATH=<shim dir> and WAITGRAPH_TRACE=PATH;
`waitgraph live PID` reads a running program's trace. Every Python process
the program starts is recorded in its own trace, and the report covers them
all, each finding with its process.

Signals sent to `waitgraph run` are forwarded to the program: HUP, INT, QUIT,
TERM, USR1, USR2, ALRM, WINCH, CONT, URG, VTALRM, PROF, XCPU, XFSZ, IO, PWR
and the real-time signals (not those the terminal sends to the whole
foreground group: the program gets them already). The per-user
directory is $WAITGRAPH_DIR, else $XDG_RUNTIME_DIR/waitgraph, else
${TMPDIR:-/tmp}/waitgraph-<uid> (mode 0700, checked).

exit status: the program's own; if the program was killed by a signal,
`waitgraph run` kills itself with the same signal after the report. 3
deadlock, program stopped; 2 bad usage; 4 the trace or report cannot be
written. (A program that itself exits 2, 3 or 4 is indistinguishable.)
)";

constexpr auto kPollInterval = std::chrono::milliseconds(100);

int Usage(const std::string& message) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph run --help`)\n";
  return kExitBadInput;
}

// A new private directory for this run's traces, in the per-user directory.
std::optional<std::string> MakeRunDir(std::string& error) {
  absl::StatusOr<std::string> user = trace::EnsureUserDir();
  if (!user.ok()) {
    error = absl::StrCat("cannot use the per-user directory: ", user.status().message());
    return std::nullopt;
  }
  std::string dir = absl::StrCat(*user, "/run-", getpid(), "-XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) {  // mode 0700
    error = absl::StrCat("cannot create ", dir, ": ", std::strerror(errno));
    return std::nullopt;
  }
  return dir;
}

// Checks, before the program starts, that the shim will be able to create
// `path`: its directory exists and is writable, and anything already at
// `path` is the user's own regular file (removed: the user named it).
// Never follows or removes someone else's file or link.
bool PrepareTracePath(const std::string& path, std::string& error) {
  std::string dir = path.rfind('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (dir.empty()) dir = "/";
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    error = absl::StrCat("cannot write trace ", path, ": ", std::strerror(errno),
                         "; choose another --trace");
    return false;
  }
  if (path.find("%p") != std::string::npos) return true;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return true;  // not there: the shim creates it
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    error = absl::StrCat("cannot write trace ", path, ": it exists and is not your own regular "
                         "file (a link, a FIFO, or another user's); choose another --trace");
    return false;
  }
  if (unlink(path.c_str()) != 0) {
    error = absl::StrCat("cannot replace trace ", path, ": ", std::strerror(errno));
    return false;
  }
  return true;
}

// What every process of one run shares: a unique id in each trace.
std::string NewRunId() { return absl::StrCat(getpid(), "-", MonotonicNowNs()); }

pid_t Spawn(const std::vector<std::string>& argv, const std::string& shim_dir,
            const std::string& trace, const std::string& run_id, bool record_argv,
            SignalForwarder& signals) {
  std::string pythonpath = shim_dir;
  if (const char* old = std::getenv("PYTHONPATH"); old != nullptr && *old) {
    absl::StrAppend(&pythonpath, ":", old);
  }
  signals.PrepareSpawn();
  pid_t pid = fork();
  if (pid != 0) {
    signals.ForwardTo(pid > 0 ? pid : 0);  // 0: fork failed, nothing to forward to
    return pid;
  }
  signals.RestoreInChild();
  setenv("PYTHONPATH", pythonpath.c_str(), 1);
  setenv("WAITGRAPH_TRACE", trace.c_str(), 1);
  setenv("WAITGRAPH_RUN_ID", run_id.c_str(), 1);
  if (record_argv) setenv("WAITGRAPH_RECORD_ARGV", "1", 1);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  execvp(cargv[0], cargv.data());
  std::cerr << "waitgraph: cannot run " << argv[0] << ": " << std::strerror(errno) << "\n";
  _exit(127);
}

bool Gone(pid_t pid, bool is_child) {
  return is_child ? waitpid(pid, nullptr, WNOHANG) == pid : kill(pid, 0) != 0;
}

void StopProcess(pid_t pid, bool is_child, int grace_steps = 20) {
  kill(pid, SIGTERM);
  for (int i = 0; i < grace_steps; ++i) {  // 50 ms each: 1 s to go quietly by default
    if (is_child ? waitpid(pid, nullptr, WNOHANG) == pid : kill(pid, 0) != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  if (is_child) waitpid(pid, nullptr, 0);
}

// What `run` stops once a process has been deadlocked for --hang-timeout.
enum class OnHang { kStop, kStopTree };

// A server asked to stop (SIGTERM) stops its workers first: 5 s for that.
constexpr int kProgramGraceSteps = 100;

// --on-hang stop: the hung process, then the program, then whatever
// recorded process of the run outlived it (a worker its master left). A
// hung worker's master is asked to stop first: a pre-fork master that saw
// its worker die before its own SIGTERM would boot a replacement, and wait
// for it, in its graceful stop.
void StopRun(pid_t hung, pid_t child, RunTraces& traces) {
  if (hung > 0 && hung != child) {
    kill(child, SIGTERM);
    StopProcess(hung, /*is_child=*/false);
  }
  // The program itself hung: 1 s to go quietly, as any hung process.
  StopProcess(child, /*is_child=*/true, hung == child ? 20 : kProgramGraceSteps);
  if (traces.traces().size() <= 1) return;
  // A pre-fork master replaces a dead worker at once, possibly just before
  // it stopped: give such a worker's trace a moment to appear.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  traces.Poll();
  for (const analyzer::TraceAnalysis* t : traces.running_traces()) {
    pid_t pid = pid_t(t->model().process().pid());
    if (pid > 0 && pid != child) StopProcess(pid, /*is_child=*/false);
  }
}

// --on-hang stop-tree: the hung process, then every process below the
// program (found before any of them dies and is re-parented), at once.
void StopTree(pid_t hung, pid_t child) {
  std::vector<pid_t> tree = Descendants(child);
  if (hung > 0 && hung != child) StopProcess(hung, /*is_child=*/false);
  kill(child, SIGTERM);
  for (pid_t p : tree) kill(p, SIGTERM);
  bool child_gone = false;
  const int grace_steps = hung == child ? 20 : kProgramGraceSteps;  // a hung program: 1 s
  for (int i = 0; i < grace_steps; ++i) {
    child_gone = child_gone || Gone(child, /*is_child=*/true);
    bool all_gone = child_gone && std::all_of(tree.begin(), tree.end(),
                                              [](pid_t p) { return Gone(p, false); });
    if (all_gone) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (pid_t p : tree) kill(p, SIGKILL);
  if (!child_gone) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
  }
}

struct RunOptions {
  OnHang on_hang = OnHang::kStop;
  std::string trace;  // empty: a new run directory
  bool record_argv = false;
  double hang_timeout = 2.0;
  Format format = Format::kText;
  std::string report_path;  // empty: stderr
  std::string model_stats_path;  // --model-stats; empty: none
  std::optional<uint64_t> trace_max;  // --trace-max
  std::vector<std::string> program;
  Policy policy;  // waitgraph.toml and `# waitgraph: ignore[...]` comments
  ReportStyle style;  // --source-root, --color, --full-stacks
};

std::optional<int> ParseRunOptions(const Args& args, RunOptions& out) {
  auto opts = ParseOptions(args, {.with_value = WithReportStyleValues({"--trace", "--hang-timeout",
                                                                     "--format", "--report",
                                                                     "--on-hang", "--trace-max",
                                                                     "--model-stats"}),
                                  .flags = WithReportStyleFlags({"--record-argv"}),
                                  .stop_at_positional = true});
  if (!opts.ok()) return Usage(std::string(opts.status().message()));
  if (opts->help()) {
    std::cout << kRunHelp;
    return kExitOk;
  }
  out.program = opts->after_dashes;
  if (out.program.empty()) return Usage("no program given: waitgraph run -- PROGRAM [ARGS...]");
  out.trace = opts->Get("--trace").value_or("");
  out.record_argv = opts->flags.count("--record-argv") > 0;
  auto config = LoadConfig("");  // ./waitgraph.toml, if any
  if (!config.ok()) return Usage(std::string(config.status().message()));
  out.policy.config = *config;
  out.report_path = opts->Get("--report").value_or("");
  out.model_stats_path = opts->Get("--model-stats").value_or("");
  const int report_fd = out.report_path.empty() ? STDERR_FILENO : -1;
  if (auto error = ResolveReportStyle(*opts, *config, report_fd, out.style)) return Usage(*error);
  // Suppression comments are read only from files under the source root.
  out.policy.source_root = out.style.source_root;
  if (config->hang_timeout) out.hang_timeout = *config->hang_timeout;
  if (auto t = opts->Get("--hang-timeout")) {
    if (!absl::SimpleAtod(*t, &out.hang_timeout) || out.hang_timeout < 0) {
      return Usage(absl::StrCat("--hang-timeout wants seconds, got ", *t));
    }
  }
  if (auto m = opts->Get("--trace-max")) {
    out.trace_max = ParseByteSize(*m);
    if (!out.trace_max) return Usage(absl::StrCat("--trace-max wants a size such as 64M or 1G, got ", *m));
  }
  if (auto f = opts->Get("--format")) {
    auto parsed = ParseFormat(*f);
    if (!parsed) return Usage(absl::StrCat("unknown --format ", *f, "; use text or json"));
    out.format = *parsed;
  }
  if (auto h = opts->Get("--on-hang")) {
    if (*h == "stop-tree") {
      out.on_hang = OnHang::kStopTree;
    } else if (*h != "stop") {
      return Usage(absl::StrCat("unknown --on-hang ", *h, "; use stop or stop-tree"));
    }
  }
  return std::nullopt;
}

// Deadlocks that have held for at least `timeout` seconds as of now.
std::vector<analyzer::Deadlock> HeldDeadlocks(const analyzer::TraceAnalysis& analysis,
                                              double timeout) {
  std::vector<analyzer::Deadlock> held;
  for (auto& d : analyzer::FindDeadlocks(analysis.model())) {
    if (static_cast<double>(analysis.model().last_time() - d.held_since) / 1e9 >= timeout) {
      held.push_back(std::move(d));
    }
  }
  return held;
}

// The whole process has been asleep (nothing-can-move) for `timeout` seconds.
bool HeldStandstill(const analyzer::TraceAnalysis& analysis, double timeout) {
  std::optional<analyzer::Standstill> s = analyzer::FindStandstill(analysis.model());
  return s && static_cast<double>(analysis.model().last_time() - s->since) / 1e9 >= timeout;
}

int Print(std::vector<findings::Report> reports, const RunOptions& opts,
          const std::string& where) {
  // A forked child's trace that an exec superseded before it recorded
  // anything is no process image: out of our run directory.
  if (opts.trace.empty()) {
    for (const std::string& path : SupersededTraceFiles(reports, where)) unlink(path.c_str());
  }
  AssignRoles(reports);
  ApplyPolicy(opts.policy, reports);
  std::string text = Render(reports, {.format = opts.format,
                                     .source_root = opts.style.source_root,
                                     .text = opts.style.text()});
  if (opts.report_path.empty()) {
    std::cerr << "\n" << text << std::flush;
    return kExitOk;
  }
  std::string error;
  if (!WriteOutput(opts.report_path, text, error)) {
    std::cerr << "waitgraph: " << error << "; the traces are kept at " << where << "\n";
    return kExitCannotWrite;
  }
  return kExitOk;
}

// The first trace of a running process of the run with a deadlock held for
// --hang-timeout (a process that is gone is reported at the end instead).
struct Hang {
  const analyzer::TraceAnalysis* trace;
  std::vector<analyzer::Deadlock> deadlocks;
};
std::optional<Hang> FindHang(const RunTraces& traces, double timeout) {
  for (const analyzer::TraceAnalysis* t : traces.running_traces()) {
    std::vector<analyzer::Deadlock> held = HeldDeadlocks(*t, timeout);
    if (!held.empty()) return Hang{t, std::move(held)};
    // nothing-can-move: its rule tells it, beside any younger cycle.
    if (HeldStandstill(*t, timeout)) return Hang{t, analyzer::FindDeadlocks(t->model())};
  }
  return std::nullopt;
}

// The hung process's report as of the hang, then the process stopped (and
// the rest, per --on-hang), then every other process's report as its trace
// ends: one report of the whole run, each finding with its process.
std::vector<findings::Report> ReportAfterHang(const Hang& hang, pid_t child, RunTraces& traces,
                                              OnHang on_hang, double timeout) {
  findings::Report hung_report = BuildReport(*hang.trace, hang.deadlocks, /*writer_gone=*/false);
  const pid_t hung = pid_t(hang.trace->model().process().pid());
  if (on_hang == OnHang::kStopTree) {
    StopTree(hung, child);
  } else {
    StopRun(hung, child, traces);
  }
  traces.Poll();
  std::vector<findings::Report> reports;
  for (const analyzer::TraceAnalysis* t : traces.traces()) {
    if (t == hang.trace) {
      reports.push_back(hung_report);
    } else {
      reports.push_back(BuildReport(*t, analyzer::FindDeadlocks(t->model()), /*writer_gone=*/true));
    }
  }
  AssignRoles(reports);
  for (findings::Report& r : reports) {
    if (r.trace() != hang.trace->path()) continue;
    std::string who = reports.size() == 1 || hung == child
                          ? std::string("the program")
                          : absl::StrCat("process ", hung,
                                         DescribeRole(r).empty() ? "" : absl::StrCat(" (", DescribeRole(r), ")"));
    r.add_notes(absl::StrCat(who, " was deadlocked for ", timeout, " s and has been stopped",
                             on_hang == OnHang::kStopTree ? ", with every process of the program"
                             : hung == child           ? ""
                                                       : ", and the program with it",
                             "; trace kept at ", hang.trace->path()));
  }
  return reports;
}


// --model-stats: what each trace's analysis keeps now, written as
// output_file.h says (a reader never sees half of it; nothing someone else
// planted at `path` is written through).
void WriteModelStats(const RunTraces& traces, const std::string& path) {
  std::string json = "{\"traces\": [";
  bool first_trace = true;
  for (const analyzer::TraceAnalysis* t : traces.traces()) {
    absl::StrAppend(&json, first_trace ? "" : ", ", "{\"trace\": ", JsonQuote(t->path()),
                    ", \"pid\": ", t->model().process().pid(),
                    ", \"events\": ", t->model().stats().events, ", \"kept\": {");
    first_trace = false;
    bool first = true;
    for (const auto& [name, count] : t->CountKept()) {
      absl::StrAppend(&json, first ? "" : ", ", JsonQuote(name), ": ", count);
      first = false;
    }
    json += "}}";
  }
  json += "]}\n";
  std::string error;
  WriteOutputFile(path, json, error);  // a statistic, not the report: never fails the run
}

// Rewrites --model-stats at most once a second while following.
class ModelStatsWriter {
 public:
  explicit ModelStatsWriter(std::string path) : path_(std::move(path)) {}
  void Now(const RunTraces& traces) {
    if (path_.empty()) return;
    WriteModelStats(traces, path_);
    last_ = std::chrono::steady_clock::now();
  }
  void Tick(const RunTraces& traces) {
    if (!path_.empty() && std::chrono::steady_clock::now() - last_ >= std::chrono::seconds(1)) {
      Now(traces);
    }
  }

 private:
  std::string path_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

int RunCommand(const Args& args) {
  RunOptions opts;
  if (auto exit = ParseRunOptions(args, opts)) return *exit;
  std::string error;
  std::optional<std::string> shim_dir = FindShimDir(error);
  if (!shim_dir) {
    std::cerr << "waitgraph: " << error << "\n";
    return kExitBadInput;
  }
  // Where the traces go: WAITGRAPH_TRACE for every process of the run.
  std::string pattern, where;
  if (opts.trace.empty()) {
    std::optional<std::string> dir = MakeRunDir(error);
    if (!dir) {
      std::cerr << "waitgraph: " << error << "\n";
      return kExitCannotWrite;
    }
    pattern = absl::StrCat(*dir, "/%p.wgtrace");
    where = *dir;
  } else {
    if (!PrepareTracePath(opts.trace, error)) {
      std::cerr << "waitgraph: " << error << "\n";
      return kExitCannotWrite;
    }
    pattern = where = opts.trace;
  }
  const std::string run_id = NewRunId();
  // The shim bounds a trace started from the environment by default; `run`
  // keeps everything unless told (--trace-max, or the user's own variable).
  if (opts.trace_max) {
    setenv("WAITGRAPH_TRACE_MAX", absl::StrCat(*opts.trace_max).c_str(), 1);
  } else if (std::getenv("WAITGRAPH_TRACE_MAX") == nullptr) {
    setenv("WAITGRAPH_TRACE_MAX", "0", 1);
  }

  SignalForwarder signals;
  pid_t child = Spawn(opts.program, *shim_dir, pattern, run_id, opts.record_argv, signals);
  if (child < 0) {
    std::cerr << "waitgraph: cannot start " << opts.program[0] << ": " << std::strerror(errno) << "\n";
    return kExitBadInput;
  }

  RunTraces traces(pattern, run_id);
  traces.set_source_root(opts.style.source_root);
  ModelStatsWriter model_stats(opts.model_stats_path);
  int status = 0;
  for (;;) {
    if (waitpid(child, &status, WNOHANG) == child) break;
    std::this_thread::sleep_for(kPollInterval);
    traces.Poll();
    traces.AdvanceClock(MonotonicNowNs());
    model_stats.Tick(traces);
    std::optional<Hang> hang = FindHang(traces, opts.hang_timeout);
    if (!hang) continue;
    std::vector<findings::Report> reports =
        ReportAfterHang(*hang, child, traces, opts.on_hang, opts.hang_timeout);
    int printed = Print(std::move(reports), opts, where);
    return printed == kExitOk ? kExitHang : printed;
  }

  traces.Poll();
  model_stats.Now(traces);
  if (traces.traces().empty()) {
    if (opts.trace.empty()) rmdir(where.c_str());  // our run directory, if left empty
    std::cerr << "waitgraph: no trace was recorded (" << opts.program[0]
              << " is not a Python program, or the shim could not start); nothing to analyse\n";
    return ExitLikeProgram(status);
  }
  std::vector<findings::Report> reports;
  for (const analyzer::TraceAnalysis* t : traces.traces()) {
    reports.push_back(BuildReport(*t, analyzer::FindDeadlocks(t->model()), /*writer_gone=*/true));
  }
  int printed = Print(std::move(reports), opts, where);
  return printed == kExitOk ? ExitLikeProgram(status) : printed;
}

}  // namespace waitgraph::cli
