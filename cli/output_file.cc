#include "cli/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace waitgraph::cli {
namespace {

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The kernel's protected_symlinks rule (fs.protected_symlinks=1), applied
// whatever the machine's setting: a symlink in a sticky world-writable
// directory is followed only if we or the directory's owner own it.
bool SymlinkSafeToFollow(const std::string& path, const struct stat& link) {
  struct stat dir;
  if (stat(DirectoryOf(path).c_str(), &dir) != 0) return false;
  const bool shared = (dir.st_mode & S_ISVTX) && (dir.st_mode & S_IWOTH);
  return !shared || link.st_uid == geteuid() || link.st_uid == dir.st_uid;
}

std::string Failed(const std::string& path, const char* why) {
  return absl::StrCat("cannot write ", path, ": ", why);
}

// A FIFO or character device: written in place.
bool WriteInPlace(const std::string& path, const std::string& text, std::string& error) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    error = Failed(path, std::strerror(errno));
    return false;
  }
  const bool written = WriteAll(fd, text);
  const int saved = errno;
  close(fd);
  if (!written) error = Failed(path, std::strerror(saved));
  return written;
}

// A regular file or a new one: a fresh file next to it, renamed over it.
bool ReplaceFile(const std::string& path, const std::string& text, std::string& error) {
  std::string tmp = absl::StrCat(path, ".XXXXXX");
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    error = Failed(path, std::strerror(errno));
    return false;
  }
  const mode_t mask = umask(0);
  umask(mask);
  bool ok = fchmod(fd, 0666 & ~mask) == 0 && WriteAll(fd, text);
  int saved = errno;
  ok = close(fd) == 0 && ok;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    unlink(tmp.c_str());
    error = Failed(path, std::strerror(saved));
  }
  return ok;
}

}  // namespace

bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool WriteOutputFile(const std::string& path, const std::string& text, std::string& error) {
  struct stat link;
  if (lstat(path.c_str(), &link) != 0) {
    if (errno == ENOENT) return ReplaceFile(path, text, error);
    error = Failed(path, std::strerror(errno));
    return false;
  }
  struct stat target = link;
  if (S_ISLNK(link.st_mode) && stat(path.c_str(), &target) != 0) {
    return ReplaceFile(path, text, error);  // a dangling symlink: replaced, not followed
  }
  if (S_ISREG(target.st_mode)) return ReplaceFile(path, text, error);
  if (!S_ISFIFO(target.st_mode) && !S_ISCHR(target.st_mode)) {
    error = Failed(path, "not a regular file, FIFO or character device");
    return false;
  }
  if (S_ISLNK(link.st_mode) && !SymlinkSafeToFollow(path, link)) {
    error = Failed(path, "a symlink someone else made in a shared directory (not followed)");
    return false;
  }
  return WriteInPlace(path, text, error);
}

}  // namespace waitgraph::cli
