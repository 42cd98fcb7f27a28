#include "cli/process_tree.h"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace waitgraph::cli {
namespace {

bool IsWorkerOrigin(const std::string& origin) {
  return origin == "fork" || origin == "multiprocessing-spawn";
}

std::string HelperRole(const std::string& origin) {
  if (origin == "multiprocessing-forkserver") return "fork server";
  if (origin == "multiprocessing-resource-tracker") return "resource tracker";
  return "";
}

// The parent pid of `pid` from /proc/PID/stat ("pid (comm) state ppid ...";
// comm may hold spaces and parentheses: read after the last ')').
std::optional<pid_t> ParentOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  long ppid = 0;
  if (!(rest >> state >> ppid)) return std::nullopt;
  return static_cast<pid_t>(ppid);
}

// Leaves out the traces of forked children that only exec'd (unless that
// would leave nothing: a trace read alone is shown as it is).
void DropSupersededByExec(std::vector<findings::Report>& reports) {
  auto superseded = [](const findings::Report& r) { return r.superseded_by_exec(); };
  if (std::all_of(reports.begin(), reports.end(), superseded)) return;
  reports.erase(std::remove_if(reports.begin(), reports.end(), superseded), reports.end());
}

// A trace started by exec in a process that also has a forked child's
// trace (same pid, same parent): the exec'd image of that child.
bool ExecdImageOfForkedChild(const findings::Report& r,
                             const std::vector<findings::Report>& reports) {
  if (!r.origin().empty()) return false;
  return std::any_of(reports.begin(), reports.end(), [&](const findings::Report& other) {
    return other.origin() == "fork" && other.pid() == r.pid() &&
           other.parent_pid() == r.parent_pid() &&
           other.start_monotonic_ns() <= r.start_monotonic_ns();
  });
}

// What a multiprocessing process started by exec runs, for its `-c`.
void NameExecdHelpers(std::vector<findings::Report>& reports) {
  std::map<uint32_t, std::string> programs;
  for (const auto& r : reports) {
    if (r.pid() != 0 && r.program() != "-c") programs.emplace(r.pid(), r.program());
  }
  for (auto& r : reports) {
    if (r.program() != "-c") continue;
    if (r.origin() == "multiprocessing-spawn") {
      auto parent = programs.find(r.parent_pid());
      r.set_program(parent != programs.end() && !parent->second.empty() ? parent->second
                                                                         : "multiprocessing.spawn");
    } else if (r.origin() == "multiprocessing-resource-tracker") {
      r.set_program("multiprocessing.resource_tracker");
    } else if (r.origin() == "multiprocessing-forkserver") {
      r.set_program("multiprocessing.forkserver");
    }
  }
}

}  // namespace

std::vector<std::string> SupersededTraceFiles(const std::vector<findings::Report>& reports,
                                              const std::string& run_dir) {
  std::vector<std::string> out;
  auto superseded = [](const findings::Report& r) { return r.superseded_by_exec(); };
  if (std::all_of(reports.begin(), reports.end(), superseded)) return out;
  std::string prefix = absl::StrCat(run_dir, "/");
  for (const auto& r : reports) {
    if (r.superseded_by_exec() && absl::StartsWith(r.trace(), prefix) &&
        r.trace().find('/', prefix.size()) == std::string::npos) {
      out.push_back(r.trace());
    }
  }
  return out;
}

void AssignRoles(std::vector<findings::Report>& reports) {
  NameExecdHelpers(reports);
  DropSupersededByExec(reports);
  std::set<uint32_t> recorded;
  for (const auto& r : reports) {
    if (r.pid() != 0) recorded.insert(r.pid());
  }
  // Workers of each recorded parent, in the order they started.
  std::map<uint32_t, std::vector<findings::Report*>> workers;
  for (auto& r : reports) {
    if ((IsWorkerOrigin(r.origin()) || ExecdImageOfForkedChild(r, reports)) &&
        recorded.count(r.parent_pid())) {
      workers[r.parent_pid()].push_back(&r);
    }
  }
  for (auto& [parent, list] : workers) {
    std::stable_sort(list.begin(), list.end(), [](const auto* a, const auto* b) {
      return a->start_monotonic_ns() < b->start_monotonic_ns();
    });
    // Several traces of one forked process (the shim restarted in it, or a
    // Python program it exec'd) are one worker.
    std::vector<uint32_t> numbered;
    for (findings::Report* r : list) {
      size_t n = std::find(numbered.begin(), numbered.end(), r->pid()) - numbered.begin();
      if (n == numbered.size()) numbered.push_back(r->pid());
      r->set_role(absl::StrCat("worker ", n + 1));
    }
  }
  for (auto& r : reports) {
    if (!r.role().empty()) continue;
    if (workers.count(r.pid())) {
      r.set_role("master");
    } else if (std::string helper = HelperRole(r.origin()); !helper.empty()) {
      r.set_role(helper);
    } else if (r.origin() == "fork") {
      r.set_role("forked child");
    }
  }
}

std::string DescribeRole(const findings::Report& report) {
  if (absl::StartsWith(report.role(), "worker ") && report.parent_pid() != 0) {
    return absl::StrCat(report.role(), " of ", report.parent_pid());
  }
  return report.role();
}

std::vector<pid_t> Descendants(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  if (DIR* d = opendir("/proc")) {
    while (dirent* entry = readdir(d)) {
      int pid;
      if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0) continue;
      if (std::optional<pid_t> parent = ParentOf(pid)) children[*parent].push_back(pid);
    }
    closedir(d);
  }
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {root};
  std::set<pid_t> seen = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    for (pid_t c : children[p]) {
      if (!seen.insert(c).second) continue;
      out.push_back(c);
      todo.push_back(c);
    }
  }
  return out;
}

}  // namespace waitgraph::cli
