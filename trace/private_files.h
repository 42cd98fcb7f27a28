// Where traces and live pointers go, and how they are created, safely on a
// machine shared with other users (issue 13). Used by the shim (through
// waitgraph._native) and by the CLI, so both agree on one layout:
//
//   per-user directory (0700, owned by the effective uid, verified):
//     $WAITGRAPH_DIR, else $XDG_RUNTIME_DIR/waitgraph, else
//     ${TMPDIR:-/tmp}/waitgraph-<uid>
//   <dir>/live/<pid>          live pointer: the trace path, then "start <ticks>"
//                             (the process's start time, /proc/<pid>/stat)
//   <dir>/run-<pid>-XXXXXX/   one `waitgraph run`: <pid>.wgtrace per process
//
// Files are never opened through a symlink and never reused: a trace is
// created with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600; a pointer is written to
// an exclusively created temporary file, then renamed.
#ifndef WAITGRAPH_TRACE_PRIVATE_FILES_H_
#define WAITGRAPH_TRACE_PRIVATE_FILES_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace waitgraph::trace {

// The per-user directory named above (not created, not checked).
std::string UserDirPath();

// Creates `dir` (mode 0700) if it does not exist, then verifies it: a real
// directory (not a symlink), owned by the effective uid, with no access for
// group or others. An error says what is wrong and what to do.
absl::Status EnsurePrivateDir(const std::string& dir);

// UserDirPath(), created and verified.
absl::StatusOr<std::string> EnsureUserDir();

// Verifies, without creating, that `dir` can be trusted to hold pointers of
// a process of `owner`: a real directory owned by `owner` or root, not
// writable by group or others.
absl::Status CheckTrustedDir(const std::string& dir, uid_t owner);

// Creates a new file at `path`, exclusively (never an existing file, never
// through a symlink), mode 0600, for writing. Returns the fd, or -1 with errno.
int CreateExclusive(const std::string& path);

// `pattern` with every "%p" replaced by `pid`.
std::string ExpandPid(const std::string& pattern, pid_t pid);

// "dir/trace.wgtrace" -> "dir/trace.<pid>.wgtrace": the name a process writes
// when the trace path it was given already exists.
std::string PerProcessName(const std::string& path, pid_t pid);

// Opens a trace for writing: `path` if it can be created, or if it exists
// PerProcessName(path, pid), or if that exists too (the same pid's image
// before an exec) PATH-STEM.<pid>.<n>.wgtrace, n = 2, 3, ... Sets `opened`
// to the path actually created.
// An existing FIFO owned by the effective uid is opened without blocking
// (ENXIO when nobody reads it). Returns the fd, or -1 with errno.
int OpenNewTrace(const std::string& path, pid_t pid, std::string& opened);

// Start time of `pid` in clock ticks since boot (/proc/<pid>/stat field
// 22), or nullopt if there is no such process.
std::optional<unsigned long long> ProcessStartTicks(pid_t pid);

// ---- live pointers ----------------------------------------------------------

// <user dir>/live, created and verified.
absl::StatusOr<std::string> EnsureLiveDir();
// Writes <live dir>/<pid of this process>: `trace_path` and this process's
// start time; removes the pointers of processes that no longer exist. Returns
// the pointer's path.
absl::StatusOr<std::string> WriteLivePointer(const std::string& trace_path);

struct LivePointer {
  std::string trace_path;
  std::optional<unsigned long long> start_ticks;  // absent in old pointers
};
// Reads a pointer file (regular files only, at most 64 KiB).
std::optional<LivePointer> ReadLivePointer(const std::string& pointer_path);
// True if the pointer was written by the process that now has `pid` (the pid
// exists and, when the pointer says, started at the same time).
bool PointerMatchesLiveProcess(const LivePointer& pointer, pid_t pid);
// Deletes the pointers in `live_dir` whose process is gone. Returns how many.
int RemoveStalePointers(const std::string& live_dir);

}  // namespace waitgraph::trace

#endif  // WAITGRAPH_TRACE_PRIVATE_FILES_H_
