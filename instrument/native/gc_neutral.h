// Keeping the shim's own objects out of the garbage collector's schedule
// (issue 11 item 3: the shim must not move the moments the collector runs).
//
// CPython starts a young collection when its count of tracked objects
// (allocations minus deallocations since the last collection) passes a
// threshold. Every object the shim keeps (a weak reference per object the
// trace names) would count, so with the shim the collector would run at
// other moments, and finalizers (`__del__`, a leaked socket's
// ResourceWarning) with it. Around such an allocation or deallocation:
//
//   wg_gc_neutral_begin();   // no automatic collection meanwhile
//   ... the shim's own work ...
//   wg_gc_neutral_end();     // the young count as it was before
//
// GIL held. If the work lets go of the GIL, another thread's allocations
// meanwhile are not counted either, and gc.get_threshold() says 0 there
// (an explicit gc.collect() still collects): keep the work short. C (not
// C++): it reads CPython 3.11's interpreter state through the internal
// headers, which a C++ compiler cannot include.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_GC_NEUTRAL_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_GC_NEUTRAL_H_

#ifdef __cplusplus
extern "C" {
#endif

// Scopes nest and may interleave across threads: the outermost one saves
// and restores.
void wg_gc_neutral_begin(void);
void wg_gc_neutral_end(void);
// The child of fork(): a scope another thread had open at the fork never
// ends there; put the collector back. The forking thread, GIL held.
void wg_gc_neutral_after_fork(void);

// Sets the three generations' counts (gc.get_count()) back to what they
// were before the shim started, so that the program's first collections
// come when they would have without it. GIL held.
void wg_gc_set_counts(int count0, int count1, int count2);

#ifdef __cplusplus
}  // extern "C"

// The same as a scope.
class GcNeutralScope {
 public:
  GcNeutralScope() { wg_gc_neutral_begin(); }
  ~GcNeutralScope() { wg_gc_neutral_end(); }
  GcNeutralScope(const GcNeutralScope&) = delete;
  GcNeutralScope& operator=(const GcNeutralScope&) = delete;
};
#endif

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_GC_NEUTRAL_H_
