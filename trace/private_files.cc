#include "trace/private_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace waitgraph::trace {
namespace {

constexpr size_t kMaxPointerBytes = 64 * 1024;
constexpr absl::string_view kTraceExtension = ".wgtrace";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

bool AllDigits(absl::string_view s) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string ModeString(mode_t mode) { return absl::StrFormat("%04o", mode & 07777); }

// Writes all of `text` to `fd`; false with errno on failure.
bool WriteAllTo(int fd, absl::string_view text) {
  while (!text.empty()) {
    ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(size_t(n));
  }
  return true;
}

}  // namespace

std::string UserDirPath() {
  if (std::string dir = Env("WAITGRAPH_DIR"); !dir.empty()) return dir;
  if (std::string runtime = Env("XDG_RUNTIME_DIR"); !runtime.empty() && runtime[0] == '/') {
    return absl::StrCat(runtime, "/waitgraph");
  }
  std::string tmp = Env("TMPDIR");
  if (tmp.empty()) tmp = "/tmp";
  return absl::StrCat(tmp, "/waitgraph-", geteuid());
}

absl::Status EnsurePrivateDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create directory ", dir, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot inspect ", dir, ": ", std::strerror(errno)));
  }
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
    return absl::PermissionDeniedError(absl::StrCat(
        dir, " is not a directory (a symlink or a file: someone may have planted it); remove it, "
             "or set WAITGRAPH_DIR to a private directory"));
  }
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat(
        dir, " belongs to uid ", st.st_uid, ", not to you (uid ", geteuid(),
        "); remove it, or set WAITGRAPH_DIR to a private directory"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        dir, " has mode ", ModeString(st.st_mode), ": other users can reach it; make it 0700 (chmod 700 ",
        dir, ") or set WAITGRAPH_DIR"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EnsureUserDir() {
  std::string dir = UserDirPath();
  if (absl::Status s = EnsurePrivateDir(dir); !s.ok()) return s;
  return dir;
}

absl::Status CheckTrustedDir(const std::string& dir, uid_t owner) {
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(dir, ": ", std::strerror(errno)));
  }
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
    return absl::PermissionDeniedError(absl::StrCat(dir, " is not a directory"));
  }
  if (st.st_uid != owner && st.st_uid != 0) {
    return absl::PermissionDeniedError(absl::StrCat(dir, " belongs to uid ", st.st_uid,
                                                    ", not to uid ", owner, "; not trusted"));
  }
  if ((st.st_mode & 022) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(dir, " is writable by others (mode ", ModeString(st.st_mode), "); not trusted"));
  }
  return absl::OkStatus();
}

int CreateExclusive(const std::string& path) {
  // O_NONBLOCK: opening must never wait (it cannot for a new regular file,
  // but the flag costs nothing); cleared below so writes are ordinary.
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0) return -1;
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

std::string ExpandPid(const std::string& pattern, pid_t pid) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'p') {
      absl::StrAppend(&out, pid);
      ++i;
    } else {
      out.push_back(pattern[i]);
    }
  }
  return out;
}

std::string PerProcessName(const std::string& path, pid_t pid) {
  size_t slash = path.rfind('/');
  size_t name_start = slash == std::string::npos ? 0 : slash + 1;
  absl::string_view name(path.data() + name_start, path.size() - name_start);
  if (name.size() > kTraceExtension.size() &&
      name.substr(name.size() - kTraceExtension.size()) == kTraceExtension) {
    return absl::StrCat(path.substr(0, path.size() - kTraceExtension.size()), ".", pid,
                        kTraceExtension);
  }
  return absl::StrCat(path, ".", pid);
}

namespace {

// The process images of one pid that may each write a trace (a fork, then
// execs that each start Python again).
constexpr int kMaxImagesPerPid = 16;

// "dir/trace.<pid>.wgtrace", 2 -> "dir/trace.<pid>.2.wgtrace".
std::string ImageName(const std::string& per_process, int n) {
  if (absl::EndsWith(per_process, kTraceExtension)) {
    return absl::StrCat(per_process.substr(0, per_process.size() - kTraceExtension.size()), ".", n,
                        kTraceExtension);
  }
  return absl::StrCat(per_process, ".", n);
}

}  // namespace

int OpenNewTrace(const std::string& path, pid_t pid, std::string& opened) {
  int fd = CreateExclusive(path);
  if (fd >= 0 || errno != EEXIST) {
    if (fd >= 0) opened = path;
    return fd;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode) && st.st_uid == geteuid()) {
    // The user's own FIFO: stream into it, but never wait for a reader.
    fd = open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;  // ENXIO: nobody reads it
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    opened = path;
    return fd;
  }
  // Someone else's file (another process of the same run, an old trace, or
  // something planted): never touch it, write our own beside it. That name
  // may be taken too, by this very pid's image before an exec (a forked
  // child that execs Python: os.fork + os.execv, uvloop's subprocesses):
  // then the next free PATH-STEM.<pid>.<n>.
  const std::string own = PerProcessName(path, pid);
  for (int n = 1; n <= kMaxImagesPerPid; ++n) {
    std::string name = n == 1 ? own : ImageName(own, n);
    fd = CreateExclusive(name);
    if (fd >= 0) {
      opened = name;
      return fd;
    }
    if (errno != EEXIST) return -1;
  }
  return -1;  // errno EEXIST
}

std::optional<unsigned long long> ProcessStartTicks(pid_t pid) {
  int fd = open(absl::StrCat("/proc/", pid, "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  absl::string_view text(buf, size_t(n));
  size_t paren = text.rfind(')');  // the command name may hold spaces and ')'
  if (paren == absl::string_view::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(text.substr(paren + 1), ' ', absl::SkipEmpty());
  constexpr size_t kStartTimeIndex = 22 - 3;  // fields after the name start at field 3
  unsigned long long ticks;
  if (fields.size() <= kStartTimeIndex || !absl::SimpleAtoi(fields[kStartTimeIndex], &ticks)) {
    return std::nullopt;
  }
  return ticks;
}

absl::StatusOr<std::string> EnsureLiveDir() {
  absl::StatusOr<std::string> user = EnsureUserDir();
  if (!user.ok()) return user.status();
  std::string live = absl::StrCat(*user, "/live");
  if (absl::Status s = EnsurePrivateDir(live); !s.ok()) return s;
  return live;
}

absl::StatusOr<std::string> WriteLivePointer(const std::string& trace_path) {
  absl::StatusOr<std::string> dir = EnsureLiveDir();
  if (!dir.ok()) return dir.status();
  RemoveStalePointers(*dir);
  pid_t pid = getpid();
  std::string text = absl::StrCat(trace_path, "\n");
  if (auto ticks = ProcessStartTicks(pid)) absl::StrAppend(&text, "start ", *ticks, "\n");
  std::string final_path = absl::StrCat(*dir, "/", pid);
  std::string tmp = absl::StrCat(*dir, "/.", pid, ".tmp");
  unlink(tmp.c_str());  // our own leftover (the directory is private)
  int fd = CreateExclusive(tmp);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  bool written = WriteAllTo(fd, text);
  int saved = errno;
  close(fd);
  if (!written || rename(tmp.c_str(), final_path.c_str()) != 0) {
    if (written) saved = errno;
    unlink(tmp.c_str());
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", final_path, ": ", std::strerror(saved)));
  }
  return final_path;
}

std::optional<LivePointer> ReadLivePointer(const std::string& pointer_path) {
  int fd = open(pointer_path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st;
  std::string text;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && size_t(st.st_size) <= kMaxPointerBytes) {
    text.resize(size_t(st.st_size));
    ssize_t n = read(fd, text.data(), text.size());
    text.resize(n > 0 ? size_t(n) : 0);
  }
  close(fd);
  LivePointer pointer;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (pointer.trace_path.empty()) {
      pointer.trace_path = std::string(line);
    } else if (line.substr(0, 6) == "start ") {
      unsigned long long ticks;
      if (absl::SimpleAtoi(line.substr(6), &ticks)) pointer.start_ticks = ticks;
    }
  }
  if (pointer.trace_path.empty()) return std::nullopt;
  return pointer;
}

bool PointerMatchesLiveProcess(const LivePointer& pointer, pid_t pid) {
  std::optional<unsigned long long> ticks = ProcessStartTicks(pid);
  if (!ticks) return false;
  return !pointer.start_ticks || *pointer.start_ticks == *ticks;
}

int RemoveStalePointers(const std::string& live_dir) {
  DIR* d = opendir(live_dir.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> stale;
  while (dirent* entry = readdir(d)) {
    absl::string_view name = entry->d_name;
    long pid;
    if (!AllDigits(name) || !absl::SimpleAtoi(name, &pid)) continue;
    std::string path = absl::StrCat(live_dir, "/", name);
    std::optional<LivePointer> pointer = ReadLivePointer(path);
    if (!pointer || !PointerMatchesLiveProcess(*pointer, pid_t(pid))) stale.push_back(path);
  }
  closedir(d);
  for (const std::string& path : stale) unlink(path.c_str());
  return int(stale.size());
}

}  // namespace waitgraph::trace
