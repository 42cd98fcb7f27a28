// What the shim keeps in memory, table by table (issue 13 item 8): the
// module function kept_counts() returns them as a dict, so a test can show
// that each table levels off in a long-running program (a count does not
// depend on the allocator or the machine's load, as VmRSS does).
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_KEPT_COUNTS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_KEPT_COUNTS_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace waitgraph::shim {

// (table name, entries it holds now). Names are "module.table".
using KeptCounts = std::vector<std::pair<const char*, uint64_t>>;

// Each part appends its own tables (GIL held).
void CountObjectIds(KeptCounts& out);
void CountContextHooks(KeptCounts& out);
void CountRecorder(KeptCounts& out);
void CountStackWalker(KeptCounts& out);
void CountLockHooks(KeptCounts& out);
void CountAsyncLockOwners(KeptCounts& out);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_KEPT_COUNTS_H_
