#include "cli/trace_inputs.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace waitgraph::cli {
namespace {

absl::Status TracesIn(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot read directory ", dir, ": ", std::strerror(errno)));
  }
  std::vector<std::string> found;
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (!absl::EndsWith(name, ".wgtrace")) continue;
    std::string path = absl::StrCat(dir, dir.back() == '/' ? "" : "/", name);
    struct stat st;
    // Only regular files: never a FIFO, a device or a link someone left there.
    if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) found.push_back(path);
  }
  closedir(d);
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat(dir, " holds no *.wgtrace file"));
  }
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandTraceInputs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& arg : args) {
    struct stat st;
    if (!arg.empty() && stat(arg.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      if (absl::Status s = TracesIn(arg, out); !s.ok()) return s;
    } else {
      out.push_back(arg);  // the reader says what is wrong with it, if anything
    }
  }
  return out;
}

}  // namespace waitgraph::cli
