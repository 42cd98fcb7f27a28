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
//   WgGcNeutral saved;
//   wg_gc_neutral_begin(&saved);   // no collection may start meanwhile
//   ref = PyWeakref_NewRef(...);   // or Py_DECREF(ref)
//   wg_gc_neutral_end(&saved);     // the young count as it was before
//
// GIL held; nothing between the two may run Python code. C (not C++): it
// reads CPython 3.11's interpreter state through the internal headers,
// which a C++ compiler cannot include.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_GC_NEUTRAL_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_GC_NEUTRAL_H_

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int count0;
  int collecting;
} WgGcNeutral;

void wg_gc_neutral_begin(WgGcNeutral* saved);
void wg_gc_neutral_end(const WgGcNeutral* saved);

// Sets the three generations' counts (gc.get_count()) back to what they
// were before the shim started, so that the program's first collections
// come when they would have without it. GIL held.
void wg_gc_set_counts(int count0, int count1, int count2);

#ifdef __cplusplus
}  // extern "C"

// The same as a scope.
class GcNeutralScope {
 public:
  GcNeutralScope() { wg_gc_neutral_begin(&saved_); }
  ~GcNeutralScope() { wg_gc_neutral_end(&saved_); }
  GcNeutralScope(const GcNeutralScope&) = delete;
  GcNeutralScope& operator=(const GcNeutralScope&) = delete;

 private:
  WgGcNeutral saved_;
};
#endif

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_GC_NEUTRAL_H_
