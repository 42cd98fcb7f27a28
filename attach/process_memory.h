// Read-only access to another process's memory: a live process
// (process_vm_readv, or /proc/PID/mem where that is refused) or a core file
// (its PT_LOAD segments, and the mapped files its NT_FILE note names for
// what the core left out). Nothing here writes to, stops or runs code in the
// target.
#ifndef WAITGRAPH_ATTACH_PROCESS_MEMORY_H_
#define WAITGRAPH_ATTACH_PROCESS_MEMORY_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace waitgraph::attach {

// One mapping of the target's address space (/proc/PID/maps, or NT_FILE).
struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t file_offset = 0;
  std::string path;  // empty for anonymous memory
};

class ProcessMemory {
 public:
  virtual ~ProcessMemory() = default;

  // Copies `size` bytes at `address` into `out`; false if any byte cannot be
  // read (unmapped, the process is gone). Served from a page cache, so one
  // snapshot reads each page of the target once.
  bool Read(uint64_t address, void* out, size_t size);

  template <typename T>
  bool ReadValue(uint64_t address, T& out) {
    return Read(address, &out, sizeof(T));
  }

  const std::vector<Mapping>& mappings() const { return mappings_; }
  pid_t pid() const { return pid_; }
  // The executable's path (for its ELF symbols), as the target names it.
  const std::string& executable() const { return executable_; }
  // Failed reads so far (a target changing under the reader shows here).
  uint64_t failed_reads() const { return failed_reads_; }
  // Where a file the target mapped can be read from here (a core file's
  // --exe replaces the executable's path).
  virtual std::string LocalPath(const std::string& mapped_path) const { return mapped_path; }
  // Forgets cached pages: the next snapshot sees the target as it is then.
  void DropCache() { cache_.clear(); }

 protected:
  // Reads whole bytes from the target, uncached.
  virtual bool ReadRaw(uint64_t address, void* out, size_t size) = 0;

  std::vector<Mapping> mappings_;
  pid_t pid_ = 0;
  std::string executable_;

 private:
  static constexpr uint64_t kPage = 4096;
  const std::string* Page(uint64_t page_address);
  std::unordered_map<uint64_t, std::string> cache_;  // empty string: unreadable
  uint64_t failed_reads_ = 0;
};

// Opens a live process. Fails with PermissionDenied (say: same user,
// ptrace_scope, CAP_SYS_PTRACE) or NotFound (no such process).
absl::StatusOr<std::unique_ptr<ProcessMemory>> OpenProcess(pid_t pid);

// Opens an ELF core file (gdb's `gcore`, the kernel's core dumps).
// `executable` (optional) replaces the path of the main program the core names.
absl::StatusOr<std::unique_ptr<ProcessMemory>> OpenCoreFile(const std::string& path,
                                                           const std::string& executable);

// True while `pid` exists.
bool ProcessExists(pid_t pid);

}  // namespace waitgraph::attach

#endif  // WAITGRAPH_ATTACH_PROCESS_MEMORY_H_
