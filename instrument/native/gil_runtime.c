// See gil_runtime.h. The internal headers need Py_BUILD_CORE (defined by
// Py_BUILD_CORE_MODULE, as CPython's own extension modules do) and compile
// as C only (pycore_atomic.h uses <stdatomic.h>): hence this small C file.
#define Py_BUILD_CORE_MODULE 1
#include <Python.h>
#include <internal/pycore_runtime.h>

#include "instrument/native/gil_runtime.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "gil_runtime.c reads CPython 3.11's _PyRuntime.ceval.gil: check its layout for this version"
#endif

void* WgGilHolder(void) {
  struct _gil_runtime_state* gil = &_PyRuntime.ceval.gil;
  if (!_Py_atomic_load_relaxed(&gil->locked)) return NULL;
  return (void*)_Py_atomic_load_relaxed(&gil->last_holder);
}

void* WgGilLastHolder(void) {
  return (void*)_Py_atomic_load_relaxed(&_PyRuntime.ceval.gil.last_holder);
}

unsigned long WgGilSwitches(void) {
  // Written under the GIL's mutex by the thread taking it; a word read here.
  return __atomic_load_n(&_PyRuntime.ceval.gil.switch_number, __ATOMIC_RELAXED);
}

void WgGilAddressRange(uintptr_t* begin, uintptr_t* end) {
  struct _gil_runtime_state* gil = &_PyRuntime.ceval.gil;
  *begin = (uintptr_t)gil;
  *end = (uintptr_t)(gil + 1);
}
