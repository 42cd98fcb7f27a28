// `waitgraph run -- PROGRAM [ARGS...]`: run a program under the shim, watch
// its trace while it runs, and stop it with a diagnosis if it deadlocks.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/policy.h"
#include "cli/report.h"
#include "cli/shim_locator.h"
#include "analyzer/standstill.h"

extern char** environ;

namespace waitgraph::cli {
namespace {

constexpr char kRunHelp[] = R"(usage: waitgraph run [OPTIONS] -- PROGRAM [ARGS...]

Runs PROGRAM (a Python interpreter, or anything that starts one) with the
waitgraph shim, and prints the report when it exits. Its output, input and
exit status are its own. If a cross-call-deadlock, executor-starvation or
nothing-can-move has held for --hang-timeout seconds, prints the report at
once, stops the program, and exits 3.

  --trace PATH          where to write the trace (default
                        ${TMPDIR:-/tmp}/waitgraph-run-<pid>.wgtrace); keep it
                        for `waitgraph analyze` and `check`
  --hang-timeout SECS   how long a deadlock must hold (default 2, or
                        [run] hang-timeout in ./waitgraph.toml)
  --format text|json    report format (default text)
  --report FILE         write the report to FILE (default: stderr)

./waitgraph.toml (see `waitgraph check --help`) and `# waitgraph: ignore[rule]`
comments apply to the report as they do for check.

The shim is switched on with PYTHONPATH=<shim dir> and WAITGRAPH_TRACE=PATH;
`waitgraph live PID` reads a running program's trace.

exit status: the program's own (128+N if killed by signal N); 3 deadlock,
program stopped; 2 bad usage; 4 the trace or report cannot be written
)";

constexpr auto kPollInterval = std::chrono::milliseconds(100);

pid_t g_child = -1;

void ForwardSignal(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

int Usage(const std::string& message) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph run --help`)\n";
  return kExitBadInput;
}

std::string DefaultTracePath() {
  const char* tmp = std::getenv("TMPDIR");
  return absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/waitgraph-run-", getpid(),
                      ".wgtrace");
}

// Creates (truncates) the trace so an unwritable path fails here, in one
// line, before the program starts.
bool PrepareTrace(const std::string& path, std::string& error) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = absl::StrCat("cannot write trace ", path, ": ", std::strerror(errno),
                         "; choose another --trace");
    return false;
  }
  close(fd);
  return true;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& shim_dir,
            const std::string& trace) {
  std::string pythonpath = shim_dir;
  if (const char* old = std::getenv("PYTHONPATH"); old != nullptr && *old) {
    absl::StrAppend(&pythonpath, ":", old);
  }
  pid_t pid = fork();
  if (pid != 0) return pid;
  setenv("PYTHONPATH", pythonpath.c_str(), 1);
  setenv("WAITGRAPH_TRACE", trace.c_str(), 1);
  signal(SIGINT, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  execvp(cargv[0], cargv.data());
  std::cerr << "waitgraph: cannot run " << argv[0] << ": " << std::strerror(errno) << "\n";
  _exit(127);
}

int ExitStatusOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void StopChild(pid_t child) {
  kill(child, SIGTERM);
  for (int i = 0; i < 20; ++i) {  // up to 1 s to go quietly
    if (waitpid(child, nullptr, WNOHANG) == child) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

struct RunOptions {
  std::string trace;
  double hang_timeout = 2.0;
  Format format = Format::kText;
  std::string report_path;  // empty: stderr
  std::vector<std::string> program;
  Policy policy;  // waitgraph.toml and `# waitgraph: ignore[...]` comments
};

std::optional<int> ParseRunOptions(const Args& args, RunOptions& out) {
  auto opts = ParseOptions(args, {.with_value = {"--trace", "--hang-timeout", "--format", "--report"},
                                  .stop_at_positional = true});
  if (!opts.ok()) return Usage(std::string(opts.status().message()));
  if (opts->help()) {
    std::cout << kRunHelp;
    return kExitOk;
  }
  out.program = opts->after_dashes;
  if (out.program.empty()) return Usage("no program given: waitgraph run -- PROGRAM [ARGS...]");
  out.trace = opts->Get("--trace").value_or(DefaultTracePath());
  auto config = LoadConfig("");  // ./waitgraph.toml, if any
  if (!config.ok()) return Usage(std::string(config.status().message()));
  out.policy.config = *config;
  if (config->hang_timeout) out.hang_timeout = *config->hang_timeout;
  if (auto t = opts->Get("--hang-timeout")) {
    if (!absl::SimpleAtod(*t, &out.hang_timeout) || out.hang_timeout < 0) {
      return Usage(absl::StrCat("--hang-timeout wants seconds, got ", *t));
    }
  }
  if (auto f = opts->Get("--format")) {
    auto parsed = ParseFormat(*f);
    if (!parsed) return Usage(absl::StrCat("unknown --format ", *f, "; use text or json"));
    out.format = *parsed;
  }
  out.report_path = opts->Get("--report").value_or("");
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

int Print(const findings::Report& report, const RunOptions& opts) {
  std::vector<findings::Report> reports = {report};
  ApplyPolicy(opts.policy, reports);
  std::string text = Render(reports, {.format = opts.format});
  if (opts.report_path.empty()) {
    std::cerr << "\n" << text << std::flush;
    return kExitOk;
  }
  std::string error;
  if (!WriteOutput(opts.report_path, text, error)) {
    std::cerr << "waitgraph: " << error << "; the trace is kept at " << opts.trace << "\n";
    return kExitCannotWrite;
  }
  return kExitOk;
}

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
  if (!PrepareTrace(opts.trace, error)) {
    std::cerr << "waitgraph: " << error << "\n";
    return kExitCannotWrite;
  }

  // Ctrl-C reaches the program (same process group); we stay to report.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  g_child = Spawn(opts.program, *shim_dir, opts.trace);
  if (g_child < 0) {
    std::cerr << "waitgraph: cannot start " << opts.program[0] << ": " << std::strerror(errno) << "\n";
    return kExitBadInput;
  }
  signal(SIGTERM, ForwardSignal);
  signal(SIGHUP, ForwardSignal);

  analyzer::TraceAnalysis analysis(opts.trace);
  int status = 0;
  for (;;) {
    if (waitpid(g_child, &status, WNOHANG) == g_child) break;
    std::this_thread::sleep_for(kPollInterval);
    analysis.Poll();
    analysis.AdvanceClock(MonotonicNowNs());
    std::vector<analyzer::Deadlock> held = HeldDeadlocks(analysis, opts.hang_timeout);
    bool standstill = held.empty() && HeldStandstill(analysis, opts.hang_timeout);
    if (held.empty() && !standstill) continue;
    // nothing-can-move: its rule tells it, beside any younger cycle.
    if (standstill) held = analyzer::FindDeadlocks(analysis.model());
    findings::Report report = BuildReport(analysis, held, /*writer_gone=*/false);
    report.add_notes(absl::StrCat("the program was deadlocked for ", opts.hang_timeout,
                                  " s and has been stopped; trace kept at ", opts.trace));
    int printed = Print(report, opts);
    StopChild(g_child);
    return printed == kExitOk ? kExitHang : printed;
  }

  analysis.Poll();
  int program_status = ExitStatusOf(status);
  if (analysis.model().stats().chunks == 0) {
    std::cerr << "waitgraph: no trace was recorded (" << opts.program[0]
              << " is not a Python program, or the shim could not start); nothing to analyse\n";
    return program_status;
  }
  int printed = Print(BuildReport(analysis, analyzer::FindDeadlocks(analysis.model()),
                                  /*writer_gone=*/true),
                      opts);
  return printed == kExitOk ? program_status : printed;
}

}  // namespace waitgraph::cli
