// Walks the calling thread's Python stack in C and interns it.
//
// Frames are interned by (code object, line); each code object seen is held
// by a strong reference so that its address is never reused for another code
// object while the trace is open. Frames whose file lies inside the waitgraph
// package are skipped, so a stack starts at the user's (or library's) call of
// the patched API.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_STACK_WALKER_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_STACK_WALKER_H_

#include <Python.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "instrument/native/kept_counts.h"
#include "instrument/native/recorder.h"

namespace waitgraph::shim {

struct CallMemo;

class StackWalker {
 public:
  static constexpr int kMaxFrames = 64;
  static constexpr int kMaxVisited = 256;

  // `shim_prefix`: directory of the waitgraph package (with trailing '/').
  // `library_prefixes`: directories (with trailing '/') of library code.
  void Configure(std::string shim_prefix, std::vector<std::string> library_prefixes);

  // Interned stack id of the current thread's Python stack (0 if empty).
  // GIL held. Never raises (clears any Python error it meets).
  uint32_t Capture(Recorder& recorder);
  // The same, from `frame` outwards (any thread's frame, e.g. one taken by
  // the stall watchdog from a stalled thread's state). Borrowed; GIL held.
  // `max_frames` (at most kMaxFrames): keep only the innermost frames, for
  // hot paths that need the call site, not the whole story.
  uint32_t CaptureFrom(Recorder& recorder, PyFrameObject* frame, int max_frames = kMaxFrames);
  // The current thread's stack, innermost `max_frames` frames (at most
  // kMaxFrames): Capture() without the frame objects. Reads the
  // interpreter's frames in place (interp_frames.h) and, inside a
  // CallScope, walks the caller's stack once for every hook of the call.
  uint32_t CaptureCurrent(Recorder& recorder, int max_frames = kMaxFrames);

  // While one exists on this thread (the outermost counts), captures that
  // start at the frame that was innermost when it was made -- the caller of
  // the hooked call, suspended until the call returns -- share one walk:
  // create_task's CONTEXT_COPIED and LOOP_BOUND, submit's EXECUTOR_SUBMIT
  // and CONTEXT_HANDOFF. GIL held.
  class CallScope {
   public:
    CallScope();
    ~CallScope();
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;

   private:
    struct CallMemo* memo_;  // this thread's: one thread-local look-up per scope
  };
  // A one-frame stack for a code location given as (code object, byte
  // offset of its instruction): the cheap "taken here" site of a lock
  // acquire (lock_hooks.cc). 0 for a frame inside the waitgraph package.
  uint32_t CaptureSite(Recorder& recorder, PyCodeObject* code, int lasti_bytes);
  // The stack made of `frames` as given, innermost first, each frame alone
  // (not its callers): an asyncio task's await chain, whose suspended
  // coroutine frames have no f_back. Borrowed; GIL held.
  uint32_t CaptureFrames(Recorder& recorder, PyFrameObject* const* frames, int count);
  // What it keeps (see kept_counts.h).
  void CountKept(KeptCounts& out) const;

 private:
  struct CodeInfo {
    uint32_t file = 0;
    uint32_t function = 0;
    bool library = false;
    bool shim = false;
    // A weak reference whose callback forgets the code object when it dies
    // (so code made and dropped at run time, e.g. by exec or templates, is
    // not kept alive: issue 13 item 8); null if the code object could not
    // be weakly referenced, then the walker owns a strong reference.
    PyObject* weakref = nullptr;
    std::vector<int> lines;   // keys of frames_ for this code
    std::vector<int> lastis;  // keys of sites_ for this code
  };
  struct PairHash {
    size_t operator()(const std::pair<PyObject*, int>& k) const {
      return std::hash<void*>()(k.first) * 31 + size_t(k.second);
    }
  };

  CodeInfo& Info(Recorder& recorder, PyCodeObject* code);
  // Appends the interned id of `frame` to scratch_ (nothing for shim frames).
  void AddFrame(Recorder& recorder, PyFrameObject* frame);
  // The interned frame id of (code, instruction offset); 0 for a shim frame.
  uint32_t SiteFrame(Recorder& recorder, PyCodeObject* code, int lasti_bytes);
  void ResetIfNewTrace(Recorder& recorder);
  // The weak reference `ref` to a code object fired: forget that code.
  void ForgetCode(PyObject* ref);
  friend PyObject* CodeGone(PyObject*, PyObject* ref);

  std::string shim_prefix_;
  std::vector<std::string> library_prefixes_;
  uint64_t generation_ = 0;  // the recorder's intern epoch of the ids cached here
  std::unordered_map<PyObject*, CodeInfo> codes_;     // a weak (or strong) reference to each key
  std::unordered_map<PyObject*, PyObject*> code_of_ref_;  // weakref -> code
  std::unordered_map<std::pair<PyObject*, int>, uint32_t, PairHash> frames_;
  // (code, instruction offset) -> frame id (0: a shim frame): skips the
  // code look-up and the line computation.
  std::unordered_map<std::pair<PyObject*, int>, uint32_t, PairHash> sites_;
  std::vector<uint32_t> scratch_;

  // Whole walks remembered by where they went: a hot call site (every
  // create_future of asyncio's run_in_executor, every submit) is walked
  // again and again through the same frames, and comparing a frame's code
  // and instruction pointers is far cheaper than looking each up and
  // interning the stack again. A direct-mapped table keyed by the innermost
  // frames; an entry is used only when every frame it walked is the same
  // (code object, instruction) again -- the same ids by construction.
  struct WalkFrame {
    const void* code;
    const void* instr;
  };
  struct WalkEntry {
    uint64_t generation = ~uint64_t(0);  // intern epoch of `stack`; ~0: empty
    int max_frames = 0;
    bool exhausted = false;  // the walk ended at the outermost frame
    std::vector<WalkFrame> frames;  // the complete frames visited, innermost first
    uint32_t stack = 0;
  };
  static constexpr size_t kWalkCacheSize = 256;  // a power of two
  static constexpr size_t kMaxCachedWalk = 128;  // longer walks are not kept
  // The entry slot for a walk starting at `innermost` (an InterpFrame).
  WalkEntry& WalkSlot(const void* innermost, int max_frames);
  // The remembered stack id of the walk from `innermost`, or false.
  bool CachedWalk(const void* innermost, int max_frames, uint32_t* stack);
  std::vector<WalkFrame> walk_;  // the frames of the walk in progress
  uint64_t codes_forgotten_ = 0;  // ForgetCode calls: a walk they interrupt is not kept
  std::vector<WalkEntry> walk_cache_;
  // (code, instruction offset) -> one-frame stack id (CaptureSite).
  std::unordered_map<std::pair<PyObject*, int>, uint32_t, PairHash> site_stacks_;
};

StackWalker& TheStackWalker();
// The weak reference callback (module-level C function, see stack_walker.cc).
PyObject* CodeGone(PyObject*, PyObject* ref);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_STACK_WALKER_H_
