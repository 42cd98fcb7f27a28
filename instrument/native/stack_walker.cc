#include "instrument/native/stack_walker.h"

#include <algorithm>
#include <string_view>

#include "instrument/native/interp_frames.h"

namespace waitgraph::shim {

StackWalker& TheStackWalker() {
  static StackWalker* walker = new StackWalker();  // intentionally leaked
  return *walker;
}

void StackWalker::CountKept(KeptCounts& out) const {
  out.emplace_back("stack_walker.code_objects", codes_.size());
  out.emplace_back("stack_walker.frames", frames_.size());
  out.emplace_back("stack_walker.sites", sites_.size());
  out.emplace_back("stack_walker.site_stacks", site_stacks_.size());
}

void CountStackWalker(KeptCounts& out) { TheStackWalker().CountKept(out); }

void StackWalker::Configure(std::string shim_prefix, std::vector<std::string> library_prefixes) {
  shim_prefix_ = std::move(shim_prefix);
  library_prefixes_ = std::move(library_prefixes);
}

namespace {

std::string_view Utf8(PyObject* s) {
  if (s == nullptr || !PyUnicode_Check(s)) return {};
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s, &n);
  if (p == nullptr) {
    PyErr_Clear();
    return {};
  }
  return std::string_view(p, size_t(n));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return !prefix.empty() && s.substr(0, prefix.size()) == prefix;
}

}  // namespace

PyObject* CodeGone(PyObject*, PyObject* ref) {
  TheStackWalker().ForgetCode(ref);
  Py_RETURN_NONE;
}

namespace {

PyMethodDef g_code_gone_def = {"_code_gone", CodeGone, METH_O, nullptr};
PyObject* g_code_gone = nullptr;  // created on first use, never freed

}  // namespace

void StackWalker::ForgetCode(PyObject* ref) {
  auto owner = code_of_ref_.find(ref);
  if (owner == code_of_ref_.end()) return;
  PyObject* code = owner->second;
  code_of_ref_.erase(owner);
  auto it = codes_.find(code);
  if (it != codes_.end()) {
    // The frames already defined stay valid in the trace; only the lookups
    // keyed by this (dying) code object's address go, so that a new code
    // object at the same address is never taken for it.
    for (int line : it->second.lines) frames_.erase({code, line});
    for (int lasti : it->second.lastis) sites_.erase({code, lasti});
    // Lock-acquire sites are few (CaptureSite): a scan is cheap enough.
    std::erase_if(site_stacks_, [code](const auto& entry) { return entry.first.first == code; });
    codes_.erase(it);
    // Remembered walks may pass through this code: forget them all (code
    // objects die rarely; a walk costs little to redo).
    for (WalkEntry& entry : walk_cache_) entry.generation = ~uint64_t(0);
  }
  ++codes_forgotten_;
  Py_DECREF(ref);
}

void StackWalker::ResetIfNewTrace(Recorder& recorder) {
  // A new trace, or the intern tables forgot: the ids cached here go too.
  if (generation_ == recorder.intern_epoch()) return;
  for (auto& [code, info] : codes_) {
    if (info.weakref != nullptr) {
      Py_DECREF(info.weakref);  // dropped before its referent: no callback
    } else {
      Py_DECREF(code);
    }
  }
  code_of_ref_.clear();
  codes_.clear();
  frames_.clear();
  sites_.clear();
  site_stacks_.clear();
  generation_ = recorder.intern_epoch();
}

StackWalker::CodeInfo& StackWalker::Info(Recorder& recorder, PyCodeObject* code) {
  auto it = codes_.find(reinterpret_cast<PyObject*>(code));
  if (it != codes_.end()) return it->second;
  CodeInfo info;
  std::string_view file = Utf8(code->co_filename);
  info.shim = StartsWith(file, shim_prefix_);
  if (!info.shim) {
    info.file = recorder.InternString(file);
    info.function = recorder.InternString(Utf8(code->co_qualname));
    info.library = StartsWith(file, "<frozen ");
    for (const std::string& prefix : library_prefixes_) {
      if (StartsWith(file, prefix)) {
        info.library = true;
        break;
      }
    }
  }
  PyObject* key = reinterpret_cast<PyObject*>(code);
  if (g_code_gone == nullptr) g_code_gone = PyCFunction_NewEx(&g_code_gone_def, nullptr, nullptr);
  info.weakref = g_code_gone != nullptr ? PyWeakref_NewRef(key, g_code_gone) : nullptr;
  if (info.weakref != nullptr) {
    code_of_ref_.emplace(info.weakref, key);
  } else {
    PyErr_Clear();
    Py_INCREF(code);  // cannot be weakly referenced: keep it alive instead
  }
  return codes_.emplace(key, std::move(info)).first->second;
}

uint32_t StackWalker::SiteFrame(Recorder& recorder, PyCodeObject* code, int lasti_bytes) {
  // Keyed first by the instruction offset: the code look-up and above all
  // the line number (a scan of the code's line table) are the dearest steps
  // of a walk, and a hot path such as create_task is walked again and again.
  auto site = std::make_pair(reinterpret_cast<PyObject*>(code), lasti_bytes);
  if (auto at = sites_.find(site); at != sites_.end()) return at->second;
  CodeInfo& info = Info(recorder, code);
  uint32_t id = 0;
  if (!info.shim) {
    int line = PyCode_Addr2Line(code, lasti_bytes);
    auto key = std::make_pair(reinterpret_cast<PyObject*>(code), line);
    if (auto it = frames_.find(key); it != frames_.end()) {
      id = it->second;
    } else {
      id = recorder.DefineFrame(info.file, info.function, uint32_t(line < 0 ? 0 : line),
                                info.library);
      frames_.emplace(key, id);
      info.lines.push_back(line);
    }
  }
  sites_.emplace(site, id);
  info.lastis.push_back(lasti_bytes);
  return id;
}

void StackWalker::AddFrame(Recorder& recorder, PyFrameObject* frame) {
  PyCodeObject* code = PyFrame_GetCode(frame);
  uint32_t id = SiteFrame(recorder, code, PyFrame_GetLasti(frame));
  if (id != 0) scratch_.push_back(id);
  Py_DECREF(code);
}

uint32_t StackWalker::CaptureFrames(Recorder& recorder, PyFrameObject* const* frames, int count) {
  ResetIfNewTrace(recorder);
  scratch_.clear();
  for (int i = 0; i < count && int(scratch_.size()) < kMaxFrames; ++i) {
    if (frames[i] != nullptr) AddFrame(recorder, frames[i]);
  }
  if (PyErr_Occurred()) PyErr_Clear();
  if (scratch_.empty()) return 0;
  return recorder.InternStack(scratch_);
}

uint32_t StackWalker::Capture(Recorder& recorder) { return CaptureCurrent(recorder); }

uint32_t StackWalker::CaptureFrom(Recorder& recorder, PyFrameObject* frame, int max_frames) {
  if (max_frames > kMaxFrames) max_frames = kMaxFrames;
  ResetIfNewTrace(recorder);
  scratch_.clear();
  Py_XINCREF(frame);
  int visited = 0;
  while (frame != nullptr && int(scratch_.size()) < max_frames && visited < kMaxVisited) {
    ++visited;
    AddFrame(recorder, frame);
    PyFrameObject* back = PyFrame_GetBack(frame);
    Py_DECREF(frame);
    frame = back;
  }
  Py_XDECREF(frame);
  if (PyErr_Occurred()) PyErr_Clear();
  if (scratch_.empty()) return 0;
  return recorder.InternStack(scratch_);
}

// One walk shared by the hooks of one call (StackWalker::CallScope).
struct CallMemo {
  int depth = 0;
  const InterpFrame* top = nullptr;  // innermost complete frame at scope entry
  const _Py_CODEUNIT* top_instr = nullptr;
  uint64_t generation = 0;
  bool valid = false;
  bool exhausted = false;  // the walk reached the outermost frame (or kMaxVisited)
  std::vector<uint32_t> ids;
};

namespace {

// -1 not checked yet, 0 mismatch (use the public API), 1 checked.
int g_layout_ok = -1;
thread_local CallMemo t_memo;

}  // namespace

bool FramesLayoutOk() {
  if (g_layout_ok >= 0) return g_layout_ok == 1;
  PyFrameObject* frame = PyEval_GetFrame();  // borrowed
  if (frame == nullptr) return false;        // decide when a Python frame is there
  bool ok = true;
  InterpFrame* f = CompleteFrom(InnermostFrame());
  // The caller's frame and the one outside it, both ways.
  for (int i = 0; i < 2 && ok && frame != nullptr; ++i) {
    PyCodeObject* code = PyFrame_GetCode(frame);
    ok = f != nullptr && f->f_code == code && FrameLastiBytes(f) == PyFrame_GetLasti(frame);
    Py_DECREF(code);
    PyFrameObject* back = PyFrame_GetBack(frame);  // new reference
    if (i > 0) Py_DECREF(frame);
    frame = back;
    if (f != nullptr) f = CompleteFrom(f->previous);
    if (frame == nullptr) ok = ok && f == nullptr;
  }
  if (frame != nullptr) Py_DECREF(frame);
  if (PyErr_Occurred()) PyErr_Clear();
  g_layout_ok = ok ? 1 : 0;
  return ok;
}

StackWalker::CallScope::CallScope() : memo_(&t_memo) {
  if (memo_->depth++ > 0) return;
  memo_->valid = false;
  memo_->top = g_layout_ok == 1 ? CompleteFrom(InnermostFrame()) : nullptr;
  memo_->top_instr = memo_->top != nullptr ? memo_->top->prev_instr : nullptr;
}

StackWalker::CallScope::~CallScope() {
  if (--memo_->depth == 0) {
    memo_->valid = false;
    memo_->top = nullptr;
  }
}

StackWalker::WalkEntry& StackWalker::WalkSlot(const void* innermost, int max_frames) {
  if (walk_cache_.empty()) walk_cache_.resize(kWalkCacheSize);
  // The innermost few frames tell most call sites apart (the innermost one
  // alone is often the same asyncio line for every caller).
  size_t h = size_t(max_frames) * 0x9E3779B97F4A7C15ull;
  const InterpFrame* f = static_cast<const InterpFrame*>(innermost);
  for (int i = 0; i < 4 && f != nullptr; ++i, f = CompleteFrom(f->previous)) {
    h = (h ^ reinterpret_cast<uintptr_t>(f->f_code)) * 0x100000001B3ull;
    h = (h ^ reinterpret_cast<uintptr_t>(f->prev_instr)) * 0x100000001B3ull;
  }
  return walk_cache_[(h ^ (h >> 29)) & (kWalkCacheSize - 1)];
}

bool StackWalker::CachedWalk(const void* innermost, int max_frames, uint32_t* stack) {
  WalkEntry& entry = WalkSlot(innermost, max_frames);
  if (entry.generation != generation_ || entry.max_frames != max_frames) return false;
  const InterpFrame* f = static_cast<const InterpFrame*>(innermost);
  for (const WalkFrame& seen : entry.frames) {
    if (f == nullptr || seen.code != f->f_code || seen.instr != f->prev_instr) return false;
    f = CompleteFrom(f->previous);
  }
  if (entry.exhausted && f != nullptr) return false;  // this stack goes on further out
  *stack = entry.stack;
  return true;
}

uint32_t StackWalker::CaptureCurrent(Recorder& recorder, int max_frames) {
  if (max_frames > kMaxFrames) max_frames = kMaxFrames;
  if (!FramesLayoutOk()) {
    PyFrameObject* frame = PyThreadState_GetFrame(PyThreadState_Get());
    uint32_t id = CaptureFrom(recorder, frame, max_frames);
    Py_XDECREF(frame);
    return id;
  }
  ResetIfNewTrace(recorder);
  scratch_.clear();
  InterpFrame* f = CompleteFrom(InnermostFrame());
  InterpFrame* const innermost = f;
  if (uint32_t cached; CachedWalk(innermost, max_frames, &cached)) return cached;
  const uint64_t forgotten_before = codes_forgotten_;
  walk_.clear();
  int visited = 0;
  // The shim's own frames (a Python pre/post callback) come first.
  uint32_t first = 0;
  for (; f != nullptr && visited < kMaxVisited; f = CompleteFrom(f->previous)) {
    ++visited;
    walk_.push_back(WalkFrame{f->f_code, f->prev_instr});
    first = SiteFrame(recorder, f->f_code, FrameLastiBytes(f));
    if (first != 0) break;
  }
  CallMemo& memo = t_memo;
  const bool at_top = f != nullptr && memo.depth > 0 && f == memo.top &&
                      f->prev_instr == memo.top_instr && memo.generation == generation_;
  bool walked = false;  // every frame the stack is made of is in walk_
  if (at_top && memo.valid && (memo.exhausted || int(memo.ids.size()) >= max_frames)) {
    scratch_.assign(memo.ids.begin(), memo.ids.begin() + std::min<size_t>(memo.ids.size(), size_t(max_frames)));
  } else {
    if (first != 0) scratch_.push_back(first);
    if (f != nullptr) f = CompleteFrom(f->previous);
    for (; f != nullptr && int(scratch_.size()) < max_frames && visited < kMaxVisited;
         f = CompleteFrom(f->previous)) {
      ++visited;
      walk_.push_back(WalkFrame{f->f_code, f->prev_instr});
      uint32_t id = SiteFrame(recorder, f->f_code, FrameLastiBytes(f));
      if (id != 0) scratch_.push_back(id);
    }
    walked = visited < kMaxVisited;
    if (at_top) {
      memo.ids = scratch_;
      memo.exhausted = f == nullptr || visited >= kMaxVisited;
      memo.valid = true;
      memo.generation = generation_;
    }
  }
  if (PyErr_Occurred()) PyErr_Clear();
  uint32_t stack = scratch_.empty() ? 0 : recorder.InternStack(scratch_);
  // Kept only if nothing was forgotten meanwhile: no code object died (a
  // weak reference callback can run when the walk allocates) and the
  // intern tables kept their epoch.
  if (walked && walk_.size() <= kMaxCachedWalk && codes_forgotten_ == forgotten_before &&
      generation_ == recorder.intern_epoch()) {
    WalkEntry& entry = WalkSlot(innermost, max_frames);
    entry.generation = generation_;
    entry.max_frames = max_frames;
    entry.exhausted = f == nullptr;
    entry.frames = walk_;
    entry.stack = stack;
  }
  return stack;
}

uint32_t StackWalker::CaptureSite(Recorder& recorder, PyCodeObject* code, int lasti_bytes) {
  ResetIfNewTrace(recorder);
  auto key = std::make_pair(reinterpret_cast<PyObject*>(code), lasti_bytes);
  if (auto it = site_stacks_.find(key); it != site_stacks_.end()) return it->second;
  CodeInfo& info = Info(recorder, code);
  uint32_t stack = 0;
  if (!info.shim) {
    int line = PyCode_Addr2Line(code, lasti_bytes);
    auto frame_key = std::make_pair(reinterpret_cast<PyObject*>(code), line);
    uint32_t frame_id;
    if (auto it = frames_.find(frame_key); it != frames_.end()) {
      frame_id = it->second;
    } else {
      frame_id = recorder.DefineFrame(info.file, info.function, uint32_t(line < 0 ? 0 : line),
                                      info.library);
      frames_.emplace(frame_key, frame_id);
      info.lines.push_back(line);
    }
    scratch_.assign(1, frame_id);
    stack = recorder.InternStack(scratch_);
  }
  if (PyErr_Occurred()) PyErr_Clear();
  site_stacks_.emplace(key, stack);  // forgotten with the code object (ForgetCode)
  return stack;
}

}  // namespace waitgraph::shim
