// Reads a CPython process's interpreter state from its memory, read-only:
// threads, their Python stacks, and the objects known blocking frames name.
// Every offset comes from the generated layout table (attach/layout/); every
// pointer is validated and every walk bounded, so a target that changes
// under the reader yields notes, never a crash or a hang.
#ifndef WAITGRAPH_ATTACH_PYTHON_READER_H_
#define WAITGRAPH_ATTACH_PYTHON_READER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "attach/process_memory.h"
#include "attach/python_layout.h"

namespace waitgraph::attach {

struct PyFrame {
  std::string file;
  std::string function;  // co_qualname
  int line = 0;
  bool library = false;
  uint64_t address = 0;  // the _PyInterpreterFrame
  uint64_t code = 0;
  int64_t instruction = -1;  // code-unit index of the instruction it is in
};

struct PyThread {
  uint64_t native_id = 0;
  uint64_t ident = 0;  // threading.get_ident()
  std::string name;    // from threading._active; empty if not a threading thread
  bool holds_gil = false;
  std::vector<PyFrame> frames;  // innermost first
};

class PythonReader {
 public:
  // Finds _PyRuntime and Py_Version and picks the layout table of that
  // version. FailedPrecondition: not CPython; Unimplemented: no table.
  static absl::StatusOr<std::unique_ptr<PythonReader>> Open(ProcessMemory& memory);

  // Every thread of every interpreter, with its stack.
  std::vector<PyThread> ReadThreads();

  const std::string& version() const { return version_; }
  const std::string& runtime_file() const { return runtime_file_; }
  // sys.argv[0] and where the standard library lives (threading.__file__'s
  // directory), for the trace's ProcessInfo.
  std::string ArgvZero();
  std::vector<std::string> LibraryPrefixes() const { return library_prefixes_; }
  std::vector<std::string>& notes() { return notes_; }

  // Object access for the blocking-call readers; nullopt when unreadable.
  std::optional<uint64_t> Local(const PyFrame& frame, std::string_view name);
  std::optional<uint64_t> Attr(uint64_t object, std::string_view name);
  std::optional<std::string> TypeName(uint64_t object);
  std::optional<std::string> Str(uint64_t object);
  std::optional<int64_t> Int(uint64_t object);  // int and bool
  bool IsNone(uint64_t object);
  std::optional<uint64_t> WeakrefTarget(uint64_t weakref);
  std::vector<std::pair<uint64_t, uint64_t>> DictItems(uint64_t dict);
  std::optional<uint64_t> DictGet(uint64_t dict, std::string_view key);
  std::vector<uint64_t> SetItems(uint64_t set);
  std::vector<uint64_t> ListItems(uint64_t list);
  std::optional<uint64_t> Module(std::string_view name);
  // The frame at `address` (a suspended coroutine's, say); nullopt if unreadable.
  std::optional<PyFrame> FrameAt(uint64_t address) { return ReadFrame(address); }

  ProcessMemory& memory() { return memory_; }
  const PythonLayout& layout() const { return layout_; }

 private:
  PythonReader(ProcessMemory& memory, const PythonLayout& layout, uint64_t runtime);

  struct CodeInfo {
    std::string file, qualname;
    int first_line = 0;
    std::string linetable;
    std::vector<std::string> local_names;
    int first_traceable = 0;
    bool valid = false;
  };
  const CodeInfo& Code(uint64_t code);
  std::optional<PyFrame> ReadFrame(uint64_t frame);
  int LineOf(const CodeInfo& code, int64_t instruction_index);
  std::optional<uint64_t> Pointer(uint64_t address);
  std::optional<std::string> Bytes(uint64_t object);
  std::unordered_map<uint64_t, std::string> ThreadNames(uint64_t interp);
  bool IsLibrary(const std::string& file) const;
  std::optional<uint64_t> InstanceDict(uint64_t object, uint64_t type, uint64_t* values, uint64_t* keys);
  void Note(std::string note);

  ProcessMemory& memory_;
  const PythonLayout& layout_;
  uint64_t runtime_;
  std::string version_, runtime_file_;
  std::vector<std::string> library_prefixes_;
  std::vector<std::string> notes_;
  std::unordered_map<uint64_t, CodeInfo> code_cache_;
  uint64_t main_interp_ = 0;
};

}  // namespace waitgraph::attach

#endif  // WAITGRAPH_ATTACH_PYTHON_READER_H_
