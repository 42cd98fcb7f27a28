#include "rules/describe.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "analyzer/class_graph.h"
#include "analyzer/lock_order.h"

namespace waitgraph::rules {

using analyzer::Frame;
using analyzer::Model;

findings::Location ToLocation(const Frame& frame) {
  findings::Location loc;
  loc.set_path(frame.file);
  loc.set_line(frame.line);
  loc.set_function(frame.function);
  loc.set_origin(analyzer::FrameOriginName(frame.origin));
  loc.set_display_path(frame.shown_path());
  return loc;
}

std::vector<findings::Location> ToStack(const Model& model, analyzer::StackId stack) {
  std::vector<findings::Location> out;
  for (const Frame* f : model.StackFrames(stack)) out.push_back(ToLocation(*f));
  return out;
}

const analyzer::Wait* OutermostWait(const Model& model, analyzer::ThreadId thread) {
  const analyzer::Thread* t = model.FindThread(thread);
  if (t == nullptr || t->active_waits.empty()) return nullptr;
  return model.FindWait(t->active_waits.front());
}

std::string DescribeWaitChain(const Model& model, analyzer::ThreadId thread) {
  const analyzer::Thread* t = model.FindThread(thread);
  if (t == nullptr || t->active_waits.empty()) return "";
  std::vector<std::string> chain;
  const analyzer::Wait* outer = model.FindWait(t->active_waits.front());
  if (outer != nullptr) {
    std::vector<const Frame*> frames = model.StackFrames(outer->stack);
    if (!frames.empty()) chain.push_back(frames.front()->function);
  }
  for (analyzer::EntityId id : t->active_waits) {
    const analyzer::Wait* w = model.FindWait(id);
    // Condition.wait is how most blocking calls block; it adds nothing.
    if (w == nullptr || (w->api == "Condition.wait" && id != t->active_waits.front())) continue;
    if (chain.empty() || chain.back() != w->api) chain.push_back(w->api);
  }
  return absl::StrJoin(chain, " → ");
}

std::string DescribeLoop(const Model& model, analyzer::EntityId loop) {
  return analyzer::ClassGraph::LoopClass(model, loop).label;
}

namespace {

// What a pool made inside a well-known library is for, by the library's
// file and function that made it.
struct LibraryExecutorRole {
  absl::string_view file_suffix;
  absl::string_view function;
  absl::string_view role;
  absl::string_view name = "";  // the executor's name, when the site makes two kinds
};

constexpr LibraryExecutorRole kLibraryExecutorRoles[] = {
    {"asgiref/sync.py", "AsyncToSync.__call__",
     "asgiref's CurrentThreadExecutor of an async_to_sync call (runs the loop's "
     "thread-sensitive work on the calling thread, only while it waits there)",
     "CurrentThreadExecutor"},
    {"asgiref/sync.py", "SyncToAsync.__call__",
     "asgiref's thread-sensitive executor of a ThreadSensitiveContext"},
    {"asgiref/sync.py", "SyncToAsync",
     "asgiref's thread-sensitive executor (single_thread_executor)"},
    {"asgiref/sync.py", "AsyncToSync.__call__",
     "asgiref's event-loop thread of an async_to_sync call"},
    {"asyncio/base_events.py", "BaseEventLoop.run_in_executor",
     "the event loop's default executor"},
};

std::string LibraryExecutorLabel(const Model& model, const analyzer::Executor& ex,
                                 const Frame& maker) {
  std::string role = "executor of library code";
  for (const LibraryExecutorRole& known : kLibraryExecutorRoles) {
    if (absl::EndsWith(maker.file, known.file_suffix) && maker.function == known.function &&
        (known.name.empty() || ex.name_prefix == known.name)) {
      role = std::string(known.role);
      break;
    }
  }
  std::string label = absl::StrCat(role, " (made at ", analyzer::ShortLocation(maker), " in ",
                                    maker.function);
  // The user's call that first used it: a lazily made pool's creation
  // stack says that too, an import-time one's only its first submit.
  const Frame* user = nullptr;
  for (analyzer::StackId stack : {ex.first_submit_stack, ex.created_stack}) {
    for (const Frame* f : model.StackFrames(stack)) {
      if (!f->library) {
        user = f;
        break;
      }
    }
    if (user != nullptr) break;
  }
  if (user != nullptr) {
    absl::StrAppend(&label, ", first used at ", analyzer::ShortLocation(*user), " in ",
                    user->function);
  }
  return label + ")";
}

}  // namespace

std::string DescribeExecutor(const Model& model, analyzer::EntityId executor) {
  const analyzer::Executor* ex = model.FindExecutor(executor);
  const Frame* maker = ex == nullptr ? nullptr : analyzer::LibraryMaker(model, *ex);
  std::string label = maker != nullptr
                          ? LibraryExecutorLabel(model, *ex, *maker)
                          : analyzer::ClassGraph::ExecutorClass(model, executor).label;
  if (ex != nullptr && ex->max_workers > 0) {
    absl::StrAppend(&label, " (max_workers=", ex->max_workers, ")");
  }
  return label;
}

std::string DescribeLock(const Model& model, analyzer::EntityId lock) {
  const analyzer::Lock* l = model.FindLock(lock);
  if (l == nullptr) return absl::StrCat("lock #", lock);
  return analyzer::LockOrder::LockClassNode(model, l->class_id).label;
}

std::string DescribeThread(const Model& model, analyzer::ThreadId thread) {
  std::string out = model.ThreadLabel(thread);
  const analyzer::Thread* t = model.FindThread(thread);
  if (t != nullptr && !t->loops_running.empty()) {
    absl::StrAppend(&out, " (running ", DescribeLoop(model, t->loops_running.back()), ")");
  }
  return out;
}

std::string DescribeTask(const Model& model, analyzer::EntityId task) {
  const analyzer::Task* t = model.FindTask(task);
  if (t == nullptr || t->name.empty()) return absl::StrCat("task ", task);
  return absl::StrCat("task ", t->name);
}

std::string DescribeTaskWait(const Model& model, const analyzer::Task& task) {
  const Frame* user = model.UserFrame(task.stack);
  if (user == nullptr || user->function == task.api) return task.api;
  return absl::StrCat(user->function, " → ", task.api);
}

findings::RelatedLocation TaskWaitLocation(const Model& model, const analyzer::Task& task,
                                           std::string role) {
  findings::RelatedLocation rel;
  rel.set_role(std::move(role));
  rel.set_message(absl::StrCat(DescribeTask(model, task.id), " awaits ", task.api));
  if (const Frame* f = model.UserFrame(task.stack)) *rel.mutable_location() = ToLocation(*f);
  for (auto& loc : ToStack(model, task.stack)) *rel.add_stack() = std::move(loc);
  return rel;
}

findings::RelatedLocation WaitLocation(const Model& model, const analyzer::Wait& wait,
                                       std::string role) {
  findings::RelatedLocation rel;
  rel.set_role(std::move(role));
  rel.set_message(absl::StrCat(model.ThreadLabel(wait.thread), " blocks in ", wait.api));
  if (const Frame* f = model.UserFrame(wait.stack)) *rel.mutable_location() = ToLocation(*f);
  for (auto& loc : ToStack(model, wait.stack)) *rel.add_stack() = std::move(loc);
  return rel;
}

double SecondsSinceStart(const Model& model, analyzer::TimeNs time) {
  analyzer::TimeNs start = model.has_process_info()
                               ? static_cast<analyzer::TimeNs>(model.process().start_monotonic_ns())
                               : model.first_time();
  if (start == 0) start = model.first_time();
  // In double: a crafted start time may be anywhere in the uint64 range.
  return (static_cast<double>(time) - static_cast<double>(start)) / 1e9;
}

std::string FingerprintPart(const Model& model, const std::string& api, analyzer::StackId stack) {
  const Frame* f = model.UserFrame(stack);
  if (f == nullptr) return api;
  size_t slash = f->file.rfind('/');
  return absl::StrCat(api, "@", slash == std::string::npos ? f->file : f->file.substr(slash + 1),
                      ":", f->function);
}

analyzer::TimeNs ThresholdFromEnv(const char* variable, double default_ms) {
  double ms = default_ms;
  if (const char* v = std::getenv(variable)) {
    double parsed;
    if (absl::SimpleAtod(v, &parsed) && parsed > 0) ms = parsed;
  }
  return static_cast<analyzer::TimeNs>(ms * 1e6);
}

std::string JoinAnd(const std::vector<std::string>& items) {
  if (items.empty()) return "";
  if (items.size() == 1) return items.front();
  std::vector<std::string> head(items.begin(), items.end() - 1);
  return absl::StrCat(absl::StrJoin(head, ", "), " and ", items.back());
}

std::string CountOf(size_t n, const std::string& singular, const std::string& plural) {
  return absl::StrCat(n, " ", n == 1 ? singular : (plural.empty() ? singular + "s" : plural));
}

findings::Finding NewFinding(const RuleInfo& info) {
  findings::Finding f;
  f.set_code(std::string(info.code));
  f.set_name(std::string(info.name));
  f.set_severity(info.severity);
  return f;
}

void SetFingerprint(findings::Finding& finding, const std::vector<std::string>& parts) {
  std::vector<std::string> sorted = parts;
  std::sort(sorted.begin(), sorted.end());  // the same cycle, whichever node we started at
  uint64_t h = 1469598103934665603ull;
  for (char c : absl::StrCat(finding.name(), "|", absl::StrJoin(sorted, "|"))) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  finding.set_fingerprint(hex);
}

}  // namespace waitgraph::rules
