// `waitgraph attach PID` and `waitgraph attach --core FILE`: diagnose a
// CPython process that was never started under waitgraph, by reading its
// memory (read-only: it is never stopped, and no code runs in it) and
// analysing a one-snapshot trace of it like any recorded trace.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "attach/python_reader.h"
#include "attach/snapshot_trace.h"
#include "cli/commands.h"
#include "cli/policy.h"
#include "cli/report_style.h"
#include "cli/options.h"
#include "cli/report.h"

namespace waitgraph::cli {
namespace {

constexpr char kAttachHelp[] = R"(usage: waitgraph attach PID [--format text|json|sarif] [--trace OUT]
                        [--interval SECONDS --samples N]
       waitgraph attach --core FILE [--exe PATH] [--format ...] [--trace OUT]

Diagnoses a CPython process that was not started under waitgraph: reads its
memory (never stops it, never runs code in it), takes a snapshot of every
thread's Python stack and of what the known blocking calls on it wait for
(Thread.join, Future.result, executor shutdown, asgiref's hand-offs, which
loop each thread runs), and reports like `analyze` on a recorded trace.
The text report begins with every thread's stack, and the tasks of each idle
event loop with their await chains.

  --trace OUT          also write the snapshot as a trace (for analyze/check)
  --interval SECONDS   with --samples: time between snapshots (default 1)
  --samples N          take N snapshots; report only the waits held in all
  --core FILE          read a core file instead (gdb's `gcore PID`)
  --exe PATH           with --core: the program's executable, if it has moved
  --source-root DIR, --color auto|always|never, --full-stacks
                       as for analyze (see `waitgraph analyze --help`)

Needs: the same user as the process (or root / CAP_SYS_PTRACE) and
/proc/sys/kernel/yama/ptrace_scope 0 (or 1 when waitgraph is its parent).
Python versions: those whose layout table was built in (3.11 here).

exit status: 0 no deadlock; 3 a deadlock (cross-call-deadlock,
executor-starvation or nothing-can-move) holds; 2 not a CPython process, not
permitted, a Python version without a table, or bad usage; 4 --trace cannot
be written; 5 the process does not exist or exited while being read
)";

int Usage(const std::string& message) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph attach --help`)\n";
  return kExitBadInput;
}

bool IsDeadlock(const findings::Finding& f) {
  return f.name() == "cross-call-deadlock" || f.name() == "executor-starvation" ||
         f.name() == "nothing-can-move";
}

// The tasks of each idle event loop and what each awaits, with its await
// chain (innermost first), as `python -m asyncio pstree` shows on 3.14.
std::string TaskChains(const attach::Snapshot& s) {
  constexpr int kShown = 50;
  std::string out;
  std::map<uint64_t, std::string> names;
  std::map<uint64_t, int> per_loop_shown;
  uint64_t last_task = 0;
  for (const attach::Fact& f : s.facts) {
    if (f.kind == trace::LOOP_IDLE) {
      absl::StrAppend(&out, "\nevent loop #", f.subject, " idle in its selector on thread ", f.thread, ":\n");
    } else if (f.kind == trace::TASK_INFO) {
      names[f.subject] = f.name;
    } else if (f.kind == trace::TASK_WAITING && f.subject != last_task) {
      last_task = f.subject;
      if (++per_loop_shown[f.thread] > kShown) continue;
      absl::StrAppend(&out, "  task ", names[f.subject], " awaits ", f.name, ":\n");
      for (const attach::PyFrame& frame : f.stack) {
        absl::StrAppend(&out, "    File \"", frame.file, "\", line ", frame.line, " in ", frame.function, "\n");
      }
    }
  }
  for (const auto& [thread, shown] : per_loop_shown) {
    if (shown > kShown) absl::StrAppend(&out, "  ... and ", shown - kShown, " more task(s) on thread ", thread, "\n");
  }
  return out;
}

// "Thread 4242 MainThread (holds the GIL):" and its stack, innermost first,
// as faulthandler and py-spy show it.
std::string ThreadStacks(const attach::Snapshot& s) {
  std::string out = absl::StrFormat("process %d (Python %s), %d thread(s), read in %.1f ms:\n", s.pid,
                                    s.python_version, s.threads.size(), s.read_ns / 1e6);
  for (const attach::PyThread& t : s.threads) {
    absl::StrAppend(&out, "\nthread ", t.native_id, " ", t.name.empty() ? "(not a threading thread)" : t.name,
                    t.holds_gil ? " (holds the GIL)" : "", ":\n");
    for (const attach::PyFrame& f : t.frames) {
      absl::StrAppend(&out, "  File \"", f.file, "\", line ", f.line > 0 ? absl::StrCat(f.line) : "???", " in ",
                      f.function, "\n");
    }
  }
  return out + TaskChains(s) + "\n";
}

struct AttachOptions {
  long pid = 0;
  std::string core, exe, trace;
  Format format = Format::kText;
  double interval = 1;
  int samples = 1;
  ReportStyle style;  // --source-root, --color, --full-stacks
};

std::optional<int> Parse(const Args& args, AttachOptions& out) {
  auto opts = ParseOptions(args, {.with_value = WithReportStyleValues({"--format", "--trace", "--interval",
                                                                     "--samples", "--core", "--exe"}),
                                  .flags = WithReportStyleFlags({})});
  if (!opts.ok()) return Usage(std::string(opts.status().message()));
  if (opts->help()) {
    std::cout << kAttachHelp;
    return kExitOk;
  }
  if (auto f = opts->Get("--format")) {
    auto parsed = ParseFormat(*f);
    if (!parsed || *parsed == Format::kJunit) return Usage(absl::StrCat("unknown --format ", *f, "; use text, json or sarif"));
    out.format = *parsed;
  }
  auto config = LoadConfig("");  // ./waitgraph.toml, if any: [paths] project
  if (!config.ok()) return Usage(std::string(config.status().message()));
  if (auto error = ResolveReportStyle(*opts, *config, STDOUT_FILENO, out.style)) return Usage(*error);
  out.trace = opts->Get("--trace").value_or("");
  out.core = opts->Get("--core").value_or("");
  out.exe = opts->Get("--exe").value_or("");
  if (auto v = opts->Get("--interval"); v && (!absl::SimpleAtod(*v, &out.interval) || !(out.interval >= 0) ||
                                              out.interval > 3600)) {
    return Usage(absl::StrCat("--interval takes seconds (0 to 3600), not ", *v));
  }
  if (auto v = opts->Get("--samples"); v && (!absl::SimpleAtoi(*v, &out.samples) || out.samples < 1 ||
                                             out.samples > 1000)) {
    return Usage(absl::StrCat("--samples takes a count from 1 to 1000, not ", *v));
  }
  if (!out.exe.empty() && out.core.empty()) return Usage("--exe goes with --core");
  if (out.core.empty()) {
    if (opts->positional.size() != 1) return Usage("attach takes one PID (or --core FILE)");
    const std::string& pid = opts->positional[0];
    if (pid.empty() || pid.size() > 9 || !std::all_of(pid.begin(), pid.end(), absl::ascii_isdigit)) {
      return Usage(absl::StrCat(pid, " is not a process id"));
    }
    out.pid = std::stol(pid);
  } else {
    if (!opts->positional.empty()) return Usage("give either a PID or --core FILE, not both");
    if (out.samples > 1) return Usage("a core file is one snapshot; --samples needs a live PID");
  }
  return std::nullopt;
}

int ExitFor(const absl::Status& status) {
  if (absl::IsNotFound(status)) return kExitProcessGone;
  return kExitBadInput;
}

}  // namespace

int AttachCommand(const Args& args) {
  AttachOptions o;
  if (auto exit = Parse(args, o)) return *exit;
  auto memory = o.core.empty() ? attach::OpenProcess(pid_t(o.pid)) : attach::OpenCoreFile(o.core, o.exe);
  if (!memory.ok()) {
    std::cerr << "waitgraph: " << memory.status().message() << "\n";
    return o.core.empty() ? ExitFor(memory.status()) : kExitBadInput;
  }
  auto reader = attach::PythonReader::Open(**memory);
  if (!reader.ok()) {
    bool gone = o.core.empty() && !attach::ProcessExists(pid_t(o.pid));
    std::cerr << "waitgraph: " << (gone ? absl::StrCat("process ", o.pid, " exited while being read")
                                        : std::string(reader.status().message()))
              << "\n";
    return gone ? kExitProcessGone : kExitBadInput;
  }
  std::vector<attach::Snapshot> snapshots;
  for (int i = 0; i < o.samples; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.interval));
    snapshots.push_back(attach::TakeSnapshot(**reader));
    if (o.core.empty() && !attach::ProcessExists(pid_t(o.pid))) {
      std::cerr << "waitgraph: process " << o.pid << " exited while being read\n";
      return kExitProcessGone;
    }
  }
  attach::Snapshot snapshot = attach::CommonToAll(snapshots);
  std::vector<trace::TraceChunk> chunks = attach::ToTrace(snapshot);
  if (!o.trace.empty()) {
    if (absl::Status written = attach::WriteTraceFile(o.trace, chunks); !written.ok()) {
      std::cerr << "waitgraph: " << written.message() << "; choose another --trace (it must not exist)\n";
      return kExitCannotWrite;
    }
  }
  std::string label = !o.trace.empty() ? o.trace
                      : o.core.empty() ? absl::StrCat("process ", o.pid) : o.core;
  analyzer::TraceAnalysis analysis(label, o.style.source_root);
  for (const trace::TraceChunk& chunk : chunks) analysis.AddChunk(chunk);
  findings::Report report =
      BuildReport(analysis, analyzer::FindDeadlocks(analysis.model()), /*writer_gone=*/false);
  if (o.samples > 1) {
    report.add_notes(absl::StrCat("only what held in all ", o.samples, " snapshots, ", o.interval,
                                  " s apart, is reported"));
  }
  for (const std::string& note : snapshot.notes) report.add_notes(note);
  if (o.format == Format::kText) std::cout << ThreadStacks(snapshot);
  std::cout << Render({report}, {.format = o.format, .source_root = o.style.source_root, .text = o.style.text()});
  for (const auto& f : report.findings()) {
    if (IsDeadlock(f)) return kExitHang;
  }
  return kExitOk;
}

}  // namespace waitgraph::cli
