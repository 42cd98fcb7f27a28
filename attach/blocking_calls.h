// What each thread of a snapshot waits for, read from the frames of known
// blocking calls and their locals: the same facts the shim records as events
// (WAIT_BEGIN, WORK_BEGIN, FUTURE_PRODUCER, LOOP_RUN_BEGIN...), so that the
// analyzer and the rules see an attached process as they see a recorded one.
#ifndef WAITGRAPH_ATTACH_BLOCKING_CALLS_H_
#define WAITGRAPH_ATTACH_BLOCKING_CALLS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "attach/python_reader.h"
#include "trace/waitgraph_trace.pb.h"

namespace waitgraph::attach {

// One event of the snapshot's trace, with its stack as frames.
struct Fact {
  trace::EventKind kind = trace::EVENT_UNKNOWN;
  uint64_t thread = 0;  // native id of the thread it is about
  uint64_t subject = 0;
  uint64_t object = 0;
  int64_t arg = 0;
  std::string name;
  std::vector<PyFrame> stack;  // innermost first
};

// Entity ids are the objects' addresses (unique while the snapshot holds);
// wait ids count from 1.
std::vector<Fact> ReadBlockingCalls(PythonReader& reader, const std::vector<PyThread>& threads);

}  // namespace waitgraph::attach

#endif  // WAITGRAPH_ATTACH_BLOCKING_CALLS_H_
