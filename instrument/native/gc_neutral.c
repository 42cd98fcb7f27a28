#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_interp.h>

#include "instrument/native/gc_neutral.h"

void wg_gc_neutral_begin(WgGcNeutral* saved) {
  struct _gc_runtime_state* gc = &PyInterpreterState_Get()->gc;
  saved->count0 = gc->generations[0].count;
  saved->collecting = gc->collecting;
  gc->collecting = 1;  /* what the collector sets while it runs: no new one starts */
}

void wg_gc_neutral_end(const WgGcNeutral* saved) {
  struct _gc_runtime_state* gc = &PyInterpreterState_Get()->gc;
  gc->generations[0].count = saved->count0;
  gc->collecting = saved->collecting;
}

void wg_gc_set_counts(int count0, int count1, int count2) {
  struct _gc_runtime_state* gc = &PyInterpreterState_Get()->gc;
  gc->generations[0].count = count0;
  gc->generations[1].count = count1;
  gc->generations[2].count = count2;
}
