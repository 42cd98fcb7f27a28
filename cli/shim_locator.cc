#include "cli/shim_locator.h"

#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "trace/private_files.h"

namespace waitgraph::cli {

std::optional<std::string> FindShimDir(std::string& error) {
  namespace fs = std::filesystem;
  std::string dir;
  if (const char* env = std::getenv("WAITGRAPH_SHIM_DIR"); env != nullptr && *env) {
    dir = env;
  } else {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
      error = "cannot locate the waitgraph executable (/proc/self/exe)";
      return std::nullopt;
    }
    exe[n] = '\0';
    dir = (fs::path(exe).parent_path().parent_path() / "lib" / "waitgraph" / "python").string();
  }
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "waitgraph" / "__init__.py", ec)) {
    error = absl::StrCat("the Python shim is not at ", dir,
                         " (rebuild, reinstall, or set WAITGRAPH_SHIM_DIR)");
    return std::nullopt;
  }
  return dir;
}

std::string LivePointerPath(long pid) {
  return absl::StrCat(trace::UserDirPath(), "/live/", pid);
}

long long MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace waitgraph::cli
