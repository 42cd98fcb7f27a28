// CPython 3.11's GIL, read from its own state (_PyRuntime.ceval.gil,
// Include/internal/pycore_gil.h). gil_runtime.c is compiled as C against the
// interpreter's internal headers (they need Py_BUILD_CORE and C11 atomics),
// so the layout is the compiler's, never a copy. Safe without the GIL: the
// reads are single words, possibly a moment stale.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_GIL_RUNTIME_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_GIL_RUNTIME_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The thread state (PyThreadState*) holding the GIL now, or NULL when it is
// free.
void* WgGilHolder(void);
// The thread state that took the GIL last (it may still hold it, or may
// take it back without the switch count below moving).
void* WgGilLastHolder(void);
// How often the GIL went to a thread other than its last holder, so far.
unsigned long WgGilSwitches(void);
// The address range of the GIL's own mutexes and condition variables: a
// thread blocked in a futex wait inside it is waiting to take the GIL.
void WgGilAddressRange(uintptr_t* begin, uintptr_t* end);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_GIL_RUNTIME_H_
