#include "cli/run_traces.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace waitgraph::cli {

RunTraces::RunTraces(std::string pattern, std::string run_id) : run_id_(std::move(run_id)) {
  size_t slash = pattern.rfind('/');
  dir_ = slash == std::string::npos ? "." : pattern.substr(0, slash);
  std::string name = slash == std::string::npos ? pattern : pattern.substr(slash + 1);
  constexpr absl::string_view kExtension = ".wgtrace";
  if (absl::EndsWith(name, kExtension)) {
    extension_ = std::string(kExtension);
    name.resize(name.size() - kExtension.size());
  }
  // "%p.wgtrace" -> any name; "trace.wgtrace" -> "trace", "trace.<pid>".
  size_t pid = name.find("%p");
  prefix_ = pid == std::string::npos ? name : name.substr(0, pid);
}

void RunTraces::Discover() {
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return;
  std::vector<std::string> candidates;
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (!absl::StartsWith(name, prefix_) || !absl::EndsWith(name, extension_) || name == "." ||
        name == "..") {
      continue;
    }
    std::string path = absl::StrCat(dir_, "/", name);
    if (traces_.count(path) == 0 && foreign_.count(path) == 0) candidates.push_back(path);
  }
  closedir(d);
  for (const std::string& path : candidates) Adopt(path);
}

bool RunTraces::Adopt(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    foreign_.insert(path);  // only regular files: never a FIFO, a device, a link
    return false;
  }
  auto analysis = std::make_unique<analyzer::TraceAnalysis>(path, source_root_,
                                                            analyzer::ModelLimits::Following());
  analysis->Poll();
  if (analysis->model().stats().chunks == 0) {
    if (!analysis->status().ok()) foreign_.insert(path);  // not a trace
    return false;                                          // or not written yet: look again
  }
  if (analysis->model().process().run_id() != run_id_) {
    foreign_.insert(path);  // another run's, or an old trace
    return false;
  }
  traces_.emplace(path, std::move(analysis));
  return true;
}

void RunTraces::Poll() {
  for (auto& [path, analysis] : traces_) analysis->Poll();
  Discover();
}

std::vector<const analyzer::TraceAnalysis*> RunTraces::traces() const {
  std::vector<const analyzer::TraceAnalysis*> out;
  for (const auto& [path, analysis] : traces_) out.push_back(analysis.get());
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
    return a->model().process().start_monotonic_ns() < b->model().process().start_monotonic_ns();
  });
  return out;
}

bool RunTraces::Running(const analyzer::TraceAnalysis& trace) {
  if (trace.model().shim_stopped()) return false;
  if (trace.model().replaced_by_exec()) return false;  // the pid is another image's now
  pid_t pid = pid_t(trace.model().process().pid());
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

std::vector<const analyzer::TraceAnalysis*> RunTraces::running_traces() const {
  std::vector<const analyzer::TraceAnalysis*> out;
  for (const analyzer::TraceAnalysis* t : traces()) {
    if (Running(*t)) out.push_back(t);
  }
  return out;
}

void RunTraces::AdvanceClock(long long now_ns) {
  for (auto& [path, analysis] : traces_) {
    if (Running(*analysis)) analysis->AdvanceClock(now_ns);
  }
}

}  // namespace waitgraph::cli
