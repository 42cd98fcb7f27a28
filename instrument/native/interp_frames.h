// The calling thread's CPython 3.11 interpreter frames, read in place.
//
// PyThreadState_GetFrame / PyFrame_GetBack materialize a PyFrameObject for
// every frame they pass (a GC allocation each, which moves the program's
// garbage-collection moments); the stack walker's hot path reads the
// interpreter's own linked frames instead. The layout is CPython 3.11's
// (Include/internal/pycore_frame.h, mirrored here rather than included: it
// needs Py_BUILD_CORE) and is checked against the running interpreter once
// (FramesLayoutOk) before use; on a mismatch callers use the public API.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_INTERP_FRAMES_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_INTERP_FRAMES_H_

#include <Python.h>

namespace waitgraph::shim {

struct InterpFrame {
  PyObject* f_func;
  PyObject* f_globals;
  PyObject* f_builtins;
  PyObject* f_locals;
  PyCodeObject* f_code;
  PyObject* frame_obj;
  InterpFrame* previous;
  _Py_CODEUNIT* prev_instr;
  int stacktop;
  bool is_entry;
  char owner;
};
constexpr char kFrameOwnedByGenerator = 1;

// The innermost frame of the calling thread (GIL held), incomplete or not.
inline InterpFrame* InnermostFrame() {
  PyThreadState* ts = PyThreadState_Get();
  if (ts->cframe == nullptr) return nullptr;
  return reinterpret_cast<InterpFrame*>(ts->cframe->current_frame);
}

// A frame still in its prologue is not a Python frame yet (CPython skips
// these too: _PyFrame_IsIncomplete).
inline bool FrameComplete(const InterpFrame* f) {
  if (f->owner == kFrameOwnedByGenerator) return true;
  return f->prev_instr >= _PyCode_CODE(f->f_code) + f->f_code->_co_firsttraceable;
}

// `f` or the first complete frame outside it, or nullptr.
inline InterpFrame* CompleteFrom(InterpFrame* f) {
  while (f != nullptr && !FrameComplete(f)) f = f->previous;
  return f;
}

// Byte offset of the frame's current instruction (PyFrame_GetLasti).
inline int FrameLastiBytes(const InterpFrame* f) {
  return int(f->prev_instr - _PyCode_CODE(f->f_code)) * int(sizeof(_Py_CODEUNIT));
}

// True when the layout above is this interpreter's: the caller's frame is
// seen the same through the public API and in place. Checked once; GIL held.
bool FramesLayoutOk();

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_INTERP_FRAMES_H_
