// What a frame is blocked on when the blocking call is C (a lock's acquire
// in `with lock:` or `lock.acquire()`): CPython 3.11 leaves no Python frame
// for it, so the frame's current instruction and the loads just before it
// say which object it called. The loads are re-evaluated from the frame's
// locals and globals as they are now (the same objects: the frame cannot
// have moved on).
#ifndef WAITGRAPH_ATTACH_BYTECODE_H_
#define WAITGRAPH_ATTACH_BYTECODE_H_

#include <cstdint>
#include <optional>

#include "attach/python_reader.h"

namespace waitgraph::attach {

struct BlockedCall {
  uint64_t object = 0;      // the context manager, or the object whose method is called
  bool with_block = false;  // `with object:` (else `object.METHOD(...)`)
  int arguments = 0;        // of the method call
};

// For the innermost frame of a thread: the object of the `with` it is
// entering, or of the `obj.method(...)` call it is in, when the object is a
// local, a global, or an attribute of one. nullopt otherwise.
std::optional<BlockedCall> BlockedCallOf(PythonReader& reader, const PyFrame& frame, std::string* method);

}  // namespace waitgraph::attach

#endif  // WAITGRAPH_ATTACH_BYTECODE_H_
