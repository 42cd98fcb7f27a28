// `waitgraph live PID|TRACE`: what a running (or hung) process is waiting for
// right now, read from the trace its shim keeps current to ~100 ms.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/live_watch.h"
#include "cli/options.h"
#include "cli/live_tree.h"
#include "cli/policy.h"
#include "cli/process_tree.h"
#include "cli/report.h"
#include "cli/report_style.h"
#include "cli/shim_locator.h"
#include "rules/describe.h"
#include "trace/private_files.h"

namespace waitgraph::cli {
namespace {

constexpr char kLiveHelp[] = R"(usage: waitgraph live PID|TRACE [--format text|json] [--watch]

Diagnoses a running or hung process now: which threads are blocked, in what,
for how long, and any deadlock among them. Works while the process is
deadlocked: the shim's writer thread needs no GIL.

On a service's master (gunicorn's arbiter, uvicorn's supervisor, a
multiprocessing parent), the processes below it are diagnosed too: each worker
is listed with its pid and role, and the report covers them all. A worker's
trace is found in the per-user directory of the user it runs as (as root); a
Python worker without a trace is read from its memory, as `attach` reads it.

If PID was started with the shim (`waitgraph run`, WAITGRAPH_TRACE, or
waitgraph.start()), its trace is found through <per-user dir>/live/PID (the
per-user directory of the process's owner: $WAITGRAPH_DIR, else
$XDG_RUNTIME_DIR/waitgraph, else ${TMPDIR:-/tmp}/waitgraph-<uid>). The pid of
`waitgraph run` itself stands for the program it runs. Otherwise live reads the
process's memory as `waitgraph attach PID` does (and exits as attach does: 3 on
a deadlock).

  --watch   a full-screen view refreshed every second: threads and what each
            waits for, event loops and their lag, executors' busy and queued
            work, the current findings; q quits

  --source-root DIR, --color auto|always|never, --full-stacks
                       as for analyze (see `waitgraph analyze --help`)

exit status: 0 report printed; 2 no trace for PID, or unreadable trace; 5 the
process PID no longer exists (its trace, if any, is named: use `analyze`)
)";

bool IsPid(const std::string& s) {
  return !s.empty() && s.size() < 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

bool ProcessAlive(long pid) { return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// The trace of the live process `pid`; exits with a message when there is
// none, or when the process is gone (a stale pointer is removed).
std::optional<int> FindLiveTrace(long pid, std::string& trace) {
  for (const std::string& path : LivePointerCandidates(pid)) {
    std::optional<trace::LivePointer> pointer = trace::ReadLivePointer(path);
    if (!pointer) continue;
    if (!trace::PointerMatchesLiveProcess(*pointer, pid_t(pid))) {
      unlink(path.c_str());  // stale: that process is gone (or its pid was reused)
      std::cerr << "waitgraph: process " << pid << " is gone (no longer running); its last trace: "
                << pointer->trace_path << " (use `waitgraph analyze " << pointer->trace_path << "`)\n";
      return kExitProcessGone;
    }
    trace = pointer->trace_path;
    return std::nullopt;
  }
  if (!ProcessAlive(pid)) {
    std::cerr << "waitgraph: process " << pid << " does not exist\n";
    return kExitProcessGone;
  }
  // No shim trace: the caller reads the process from outside (`attach`).
  return kExitBadInput;
}

// "MainThread: blocked 3.2 s in ThreadSensitiveContext.__aexit__ → ..." per waiting thread.
std::string BlockedNow(const analyzer::Model& model) {
  std::string out;
  for (const auto& [tid, t] : model.threads()) {
    const analyzer::Wait* w = rules::OutermostWait(model, tid);
    if (w == nullptr || t.exited) continue;
    absl::StrAppend(&out, absl::StrFormat("  %s: blocked %.1f s in %s\n",
                                          rules::DescribeThread(model, tid),
                                          (model.last_time() - w->begin) / 1e9,
                                          rules::DescribeWaitChain(model, tid)));
  }
  return out.empty() ? "no thread is blocked in a recorded wait\n"
                     : absl::StrCat("threads blocked now:\n", out);
}

// `waitgraph run`'s own pid has no trace: the program it runs has.
long FollowRunWrapper(long pid) {
  auto has_trace = [](long p) {
    for (const std::string& path : LivePointerCandidates(p)) {
      if (trace::ReadLivePointer(path)) return true;
    }
    return false;
  };
  long followed = FollowToTracedChild(pid, has_trace);
  if (followed != pid) std::cerr << "waitgraph: following process " << followed << ", run by " << pid << "\n";
  return followed;
}

}  // namespace

int LiveCommand(const Args& args) {
  auto opts = ParseOptions(args, {.with_value = WithReportStyleValues({"--format"}),
                                  .flags = WithReportStyleFlags({"--watch"})});
  if (opts.ok() && opts->help()) {
    std::cout << kLiveHelp;
    return kExitOk;
  }
  if (!opts.ok() || opts->positional.size() != 1) {
    std::cerr << "waitgraph: live takes one PID or TRACE (see `waitgraph live --help`)\n";
    return kExitBadInput;
  }
  Format format = Format::kText;
  if (auto f = opts->Get("--format")) {
    if (!ParseFormat(*f)) {
      std::cerr << "waitgraph: unknown --format " << *f << "; use text or json\n";
      return kExitBadInput;
    }
    format = *ParseFormat(*f);
  }
  auto config = LoadConfig("");  // ./waitgraph.toml, if any: [paths] project
  ReportStyle style;
  std::optional<std::string> style_error =
      config.ok() ? ResolveReportStyle(*opts, *config, STDOUT_FILENO, style)
                  : std::optional<std::string>(std::string(config.status().message()));
  if (style_error) {
    std::cerr << "waitgraph: " << *style_error << " (see `waitgraph live --help`)\n";
    return kExitBadInput;
  }
  std::string target = opts->positional[0], trace = target;
  bool alive = false;
  long pid = 0;
  if (IsPid(target)) {
    pid = FollowRunWrapper(std::stol(target));
    if (std::optional<int> exit = FindLiveTrace(pid, trace)) {
      if (*exit != kExitBadInput) return *exit;
      std::cerr << "waitgraph: process " << pid << " has no waitgraph trace; reading its memory "
                << "instead (`waitgraph attach`)\n";
      Args attach = {std::to_string(pid)};
      if (auto f = opts->Get("--format")) attach.insert(attach.end(), {"--format", *f});
      return AttachCommand(attach);
    }
    alive = ProcessAlive(pid);
  }
  if (opts->flags.count("--watch")) return WatchLive(trace, pid);  // live_watch.cc
  analyzer::TraceAnalysis analysis(trace, style.source_root, analyzer::ModelLimits::Following());
  analysis.Poll();
  if (analysis.unusable() || analysis.model().stats().chunks == 0) {
    std::cerr << "waitgraph: " << (analysis.status().ok() ? absl::StrCat(trace, " holds no complete chunk yet")
                                                          : std::string(analysis.status().message()))
              << "\n";
    return kExitBadInput;
  }
  // A live writer is current to ~100 ms: open waits have lasted until now.
  // (Given a trace path we cannot know the writer is alive: as of its end.)
  if (alive) analysis.AdvanceClock(MonotonicNowNs());
  std::vector<findings::Report> reports = {
      BuildReport(analysis, analyzer::FindDeadlocks(analysis.model()), /*writer_gone=*/!alive)};
  std::vector<std::string> blocked = {BlockedNow(analysis.model())};
  // A master: its workers (the processes below it that record) too.
  if (alive) DiagnoseDescendants(pid_t(pid), reports, blocked, BlockedNow, style.source_root);
  AssignRoles(reports);
  if (format == Format::kText) std::cout << LiveBlockedText(reports, blocked) << "\n";
  std::cout << Render(reports, {.format = format,
                                .source_root = style.source_root,
                                .text = style.text()});
  return kExitOk;
}

}  // namespace waitgraph::cli
