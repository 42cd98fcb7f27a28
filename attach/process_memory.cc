#include "attach/process_memory.h"

#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/procfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace waitgraph::attach {
namespace {

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

bool PreadAll(int fd, void* out, size_t size, uint64_t offset) {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    ssize_t n = pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

std::vector<Mapping> ReadMaps(pid_t pid) {
  std::vector<Mapping> out;
  std::ifstream in(absl::StrCat("/proc/", pid, "/maps"));
  std::string line;
  while (std::getline(in, line)) {
    Mapping m;
    std::istringstream words(line);
    std::string range, perms, dev, inode;
    words >> range >> perms >> std::hex >> m.file_offset >> dev >> std::dec >> inode;
    std::getline(words >> std::ws, m.path);
    size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    m.start = std::stoull(range.substr(0, dash), nullptr, 16);
    m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
    out.push_back(std::move(m));
  }
  return out;
}

class LiveProcess : public ProcessMemory {
 public:
  LiveProcess(pid_t pid, std::vector<Mapping> maps, std::string exe) {
    pid_ = pid;
    mappings_ = std::move(maps);
    executable_ = std::move(exe);
  }

  // The target's files as this process sees them: through /proc/PID/root,
  // so a target in another mount namespace (a container) still works.
  std::string LocalPath(const std::string& mapped_path) const override {
    std::string rooted = absl::StrCat("/proc/", pid_, "/root", mapped_path);
    return access(rooted.c_str(), R_OK) == 0 ? rooted : mapped_path;
  }

 protected:
  bool ReadRaw(uint64_t address, void* out, size_t size) override {
    if (use_vm_readv_) {
      iovec local = {out, size};
      iovec remote = {reinterpret_cast<void*>(address), size};
      ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
      if (n == static_cast<ssize_t>(size)) return true;
      if (n >= 0 || errno == EFAULT || errno == ESRCH) return false;
      use_vm_readv_ = false;  // EPERM/ENOSYS (seccomp, old kernel): use /proc/PID/mem
    }
    if (mem_.get() < 0) mem_ = Fd(open(absl::StrCat("/proc/", pid_, "/mem").c_str(), O_RDONLY | O_CLOEXEC));
    return mem_.get() >= 0 && PreadAll(mem_.get(), out, size, address);
  }

 private:
  bool use_vm_readv_ = true;
  Fd mem_;
};

// A core file: PT_LOAD segments hold what the process had in memory (gcore
// may leave out read-only file pages); NT_FILE says which file backs which
// range, for the rest.
class CoreFile : public ProcessMemory {
 public:
  struct Segment {
    uint64_t vaddr, filesz, offset;
  };

  CoreFile(Fd fd, std::vector<Segment> segments, std::vector<Mapping> files, pid_t pid,
           std::string exe, std::string exe_override)
      : fd_(std::move(fd)), segments_(std::move(segments)), exe_override_(std::move(exe_override)) {
    mappings_ = std::move(files);
    pid_ = pid;
    executable_ = std::move(exe);
  }

  std::string LocalPath(const std::string& mapped_path) const override {
    return !exe_override_.empty() && mapped_path == executable_ ? exe_override_ : mapped_path;
  }

 protected:
  bool ReadRaw(uint64_t address, void* out, size_t size) override {
    for (const Segment& s : segments_) {
      if (address >= s.vaddr && address + size <= s.vaddr + s.filesz) {
        return PreadAll(fd_.get(), out, size, s.offset + (address - s.vaddr));
      }
    }
    for (const Mapping& m : mappings_) {
      if (address < m.start || address + size > m.end || m.path.empty()) continue;
      Fd file(open(LocalPath(m.path).c_str(), O_RDONLY | O_CLOEXEC));
      return file.get() >= 0 && PreadAll(file.get(), out, size, m.file_offset + (address - m.start));
    }
    return false;
  }

 private:
  Fd fd_;
  std::vector<Segment> segments_;
  std::string exe_override_;
};

size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

// NT_FILE: count, page size, count x (start, end, page offset), then names.
std::vector<Mapping> ParseFileNote(const char* desc, size_t size) {
  std::vector<Mapping> out;
  if (size < 16) return out;
  uint64_t count, page_size;
  memcpy(&count, desc, 8);
  memcpy(&page_size, desc + 8, 8);
  if (count > (size - 16) / 24) return out;
  const char* names = desc + 16 + count * 24;
  const char* end = desc + size;
  for (uint64_t i = 0; i < count && names < end; ++i) {
    uint64_t v[3];
    memcpy(v, desc + 16 + i * 24, 24);
    size_t len = strnlen(names, static_cast<size_t>(end - names));
    out.push_back({v[0], v[1], v[2] * page_size, std::string(names, len)});
    names += len + 1;
  }
  return out;
}

}  // namespace

const std::string* ProcessMemory::Page(uint64_t page_address) {
  auto [it, inserted] = cache_.try_emplace(page_address);
  if (inserted) {
    it->second.resize(kPage);
    if (!ReadRaw(page_address, it->second.data(), kPage)) it->second.clear();
  }
  return it->second.empty() ? nullptr : &it->second;
}

bool ProcessMemory::Read(uint64_t address, void* out, size_t size) {
  if (address == 0 || address + size < address) return false;
  auto* dst = static_cast<char*>(out);
  while (size > 0) {
    uint64_t page = address & ~(kPage - 1);
    size_t in_page = static_cast<size_t>(std::min<uint64_t>(size, page + kPage - address));
    const std::string* bytes = Page(page);
    if (bytes == nullptr) {
      // A page straddling the end of a mapping: try the exact range.
      if (!ReadRaw(address, dst, in_page)) {
        ++failed_reads_;
        return false;
      }
    } else {
      memcpy(dst, bytes->data() + (address - page), in_page);
    }
    dst += in_page;
    address += in_page;
    size -= in_page;
  }
  return true;
}

bool ProcessExists(pid_t pid) {
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  // A zombie has exited: its memory is gone, only its parent has not reaped it.
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return true;
  char state = text[paren + 2];
  return state != 'Z' && state != 'X';
}

absl::StatusOr<std::unique_ptr<ProcessMemory>> OpenProcess(pid_t pid) {
  if (pid <= 0 || !ProcessExists(pid)) {
    return absl::NotFoundError(absl::StrCat("process ", pid, " does not exist"));
  }
  char exe[4096];
  ssize_t n = readlink(absl::StrCat("/proc/", pid, "/exe").c_str(), exe, sizeof exe - 1);
  std::vector<Mapping> maps = ReadMaps(pid);
  if (n < 0 || maps.empty()) {
    if (!ProcessExists(pid)) return absl::NotFoundError(absl::StrCat("process ", pid, " exited"));
    return absl::PermissionDeniedError(absl::StrCat(
        "not permitted to read process ", pid,
        ": run waitgraph as the same user as the process, with /proc/sys/kernel/yama/ptrace_scope "
        "at 0 (or 1 and as its parent), or with CAP_SYS_PTRACE (e.g. sudo)"));
  }
  auto memory = std::make_unique<LiveProcess>(pid, std::move(maps), std::string(exe, static_cast<size_t>(n)));
  // Probe: the first readable mapping must be readable, or we lack permission.
  char probe;
  if (!memory->Read(memory->mappings().front().start, &probe, 1)) {
    if (!ProcessExists(pid)) return absl::NotFoundError(absl::StrCat("process ", pid, " exited"));
    return absl::PermissionDeniedError(absl::StrCat(
        "not permitted to read the memory of process ", pid,
        ": run waitgraph as the same user as the process, with /proc/sys/kernel/yama/ptrace_scope "
        "at 0 (or 1 and as its parent), or with CAP_SYS_PTRACE (e.g. sudo)"));
  }
  memory->DropCache();
  return memory;
}

absl::StatusOr<std::unique_ptr<ProcessMemory>> OpenCoreFile(const std::string& path,
                                                           const std::string& executable) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return absl::NotFoundError(absl::StrCat("cannot open core file ", path, ": ", strerror(errno)));
  Elf64_Ehdr eh;
  if (!PreadAll(fd.get(), &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_CORE || eh.e_phentsize != sizeof(Elf64_Phdr) ||
      eh.e_phnum == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a 64-bit ELF core file (make one with `gcore PID`)"));
  }
  std::vector<CoreFile::Segment> segments;
  std::vector<Mapping> files;
  pid_t pid = 0;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!PreadAll(fd.get(), &ph, sizeof ph, eh.e_phoff + i * sizeof ph)) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is truncated (program header ", i, ")"));
    }
    if (ph.p_type == PT_LOAD && ph.p_filesz > 0) segments.push_back({ph.p_vaddr, ph.p_filesz, ph.p_offset});
    if (ph.p_type != PT_NOTE || ph.p_filesz > (64u << 20)) continue;
    std::string notes(ph.p_filesz, '\0');
    if (!PreadAll(fd.get(), notes.data(), notes.size(), ph.p_offset)) continue;
    for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= notes.size();) {
      Elf64_Nhdr nh;
      memcpy(&nh, notes.data() + at, sizeof nh);
      size_t desc = at + sizeof nh + Align4(nh.n_namesz);
      if (desc + nh.n_descsz > notes.size()) break;
      if (nh.n_type == NT_FILE) files = ParseFileNote(notes.data() + desc, nh.n_descsz);
      if (nh.n_type == NT_PRPSINFO && nh.n_descsz >= sizeof(prpsinfo_t)) {
        prpsinfo_t info;
        memcpy(&info, notes.data() + desc, sizeof info);
        pid = info.pr_pid;
      }
      at = desc + Align4(nh.n_descsz);
    }
  }
  if (files.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " has no NT_FILE note (which files were mapped); ",
                                                   "make it with gdb's `gcore PID` or a kernel core dump"));
  }
  // The executable is the file mapped at the lowest address of the first entries
  // (the kernel and gdb list mappings in address order; the program comes first).
  std::string exe = files.front().path;
  return std::unique_ptr<ProcessMemory>(
      new CoreFile(std::move(fd), std::move(segments), std::move(files), pid, exe, executable));
}

}  // namespace waitgraph::attach
