// A plain instance attribute read straight from the object's inline values
// (CPython 3.11 keeps the attributes of most Python-class instances there,
// Include/internal/pycore_object.h), the way the interpreter's own
// LOAD_ATTR_INSTANCE_VALUE specialization reads it: the attribute's index
// in the type's shared keys, found once and trusted while the type's
// version tag stays the same. For the shim's hottest attribute reads
// (loop._closed and loop._thread_id per call_soon): ~20 instructions
// instead of ~150 through the generic look-up. instance_attrs.c is compiled
// as C against the interpreter's internal headers (like gil_runtime.c).
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_INSTANCE_ATTRS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_INSTANCE_ATTRS_H_

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

// Where one attribute was found on one type (one per call site: zeroed,
// filled on first use, refilled when another type comes).
typedef struct {
  PyTypeObject* type;
  unsigned int version;  // the type's tp_version_tag when filled
  void* keys;            // the type's shared keys when filled
  Py_ssize_t index;      // the attribute's index in them
} WgAttrSlot;

// `obj`'s attribute `name` (an interned str) when it is a plain instance
// attribute in the object's inline values: no attribute of that name on the
// type or its bases, the generic getattr, values not turned into a dict.
// A borrowed reference, or NULL when this cannot answer (the attribute is
// missing, or stored another way): then ask the generic look-up. Never
// raises; needs the GIL.
PyObject* WgInstanceAttr(PyObject* obj, PyObject* name, WgAttrSlot* slot);

// False if the running interpreter is not the one instance_attrs.c was
// compiled for (then WgInstanceAttr always answers NULL).
int WgInstanceAttrsUsable(void);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_INSTANCE_ATTRS_H_
