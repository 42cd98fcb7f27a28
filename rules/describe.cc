#include "rules/describe.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "analyzer/class_graph.h"

namespace waitgraph::rules {

using analyzer::Frame;
using analyzer::Model;

findings::Location ToLocation(const Frame& frame) {
  findings::Location loc;
  loc.set_path(frame.file);
  loc.set_line(frame.line);
  loc.set_function(frame.function);
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

std::string DescribeExecutor(const Model& model, analyzer::EntityId executor) {
  std::string label = analyzer::ClassGraph::ExecutorClass(model, executor).label;
  if (const analyzer::Executor* ex = model.FindExecutor(executor); ex && ex->max_workers > 0) {
    absl::StrAppend(&label, " (max_workers=", ex->max_workers, ")");
  }
  return label;
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
  return static_cast<double>(time - start) / 1e9;
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
