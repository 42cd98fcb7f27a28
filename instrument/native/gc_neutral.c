#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_interp.h>

#include "instrument/native/gc_neutral.h"

/* Scopes may interleave across threads (one's Python code lets go of the
   GIL, another thread opens a scope): only the outermost saves and
   restores, or the second would save the 0 the first set and put it back
   for good. GIL held for all of these. */
static int g_depth = 0;
static int g_count0 = 0, g_threshold0 = 0;

void wg_gc_neutral_begin(void) {
  if (g_depth++ > 0) return;
  struct _gc_runtime_state* gc = &PyInterpreterState_Get()->gc;
  g_count0 = gc->generations[0].count;
  g_threshold0 = gc->generations[0].threshold;
  /* A young threshold of 0 starts no automatic collection (as
     gc.set_threshold(0) does); an explicit gc.collect() by a thread that
     runs meanwhile (our Python code may let go of the GIL) still collects. */
  gc->generations[0].threshold = 0;
}

void wg_gc_neutral_end(void) {
  if (g_depth == 0 || --g_depth > 0) return;
  struct _gc_runtime_state* gc = &PyInterpreterState_Get()->gc;
  gc->generations[0].count = g_count0;
  gc->generations[0].threshold = g_threshold0;
}

void wg_gc_neutral_after_fork(void) {
  if (g_depth == 0) return;
  g_depth = 1;
  wg_gc_neutral_end();
}

void wg_gc_set_counts(int count0, int count1, int count2) {
  struct _gc_runtime_state* gc = &PyInterpreterState_Get()->gc;
  gc->generations[0].count = count0;
  gc->generations[1].count = count1;
  gc->generations[2].count = count2;
}
