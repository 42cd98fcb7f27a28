// See instance_attrs.h. The internal headers need Py_BUILD_CORE (defined by
// Py_BUILD_CORE_MODULE, as CPython's own extension modules do) and compile
// as C only.
#define Py_BUILD_CORE_MODULE 1
#include <Python.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_object.h>

#include "instrument/native/instance_attrs.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "instance_attrs.c reads CPython 3.11's inline values: check their layout for this version"
#endif

int WgInstanceAttrsUsable(void) {
  // Built against the headers of the interpreter it runs in (3.11.x keeps
  // these layouts within the minor version).
  return (Py_Version >> 16) == (PY_VERSION_HEX >> 16);
}

// Finds `name` in the shared keys of `type`; 0 if this type's instances
// do not keep it in inline values, or the type itself has such an
// attribute (a descriptor, a class variable: the generic look-up decides).
static int Fill(PyTypeObject* type, PyObject* name, WgAttrSlot* slot) {
  slot->type = NULL;
  if (!WgInstanceAttrsUsable() || !(type->tp_flags & Py_TPFLAGS_MANAGED_DICT) ||
      !(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || type->tp_getattro != PyObject_GenericGetAttr) {
    return 0;
  }
  if (_PyType_Lookup(type, name) != NULL) return 0;  // also gives the type a version tag
  if (!(type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) || type->tp_version_tag == 0) return 0;
  PyDictKeysObject* keys = ((PyHeapTypeObject*)type)->ht_cached_keys;
  if (keys == NULL || !DK_IS_UNICODE(keys)) return 0;
  PyDictUnicodeEntry* entries = DK_UNICODE_ENTRIES(keys);
  for (Py_ssize_t i = 0; i < keys->dk_nentries; ++i) {
    if (entries[i].me_key == name) {
      slot->type = type;
      slot->version = type->tp_version_tag;
      slot->keys = keys;
      slot->index = i;
      return 1;
    }
  }
  return 0;
}

PyObject* WgInstanceAttr(PyObject* obj, PyObject* name, WgAttrSlot* slot) {
  PyTypeObject* type = Py_TYPE(obj);
  // The type unchanged since (its version tag moves with any change to it
  // or its bases), and its shared keys the same object.
  if (slot->type != type || slot->version != type->tp_version_tag ||
      !(type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ||
      slot->keys != ((PyHeapTypeObject*)type)->ht_cached_keys) {
    if (!Fill(type, name, slot)) return NULL;
  }
  PyDictValues* values = *_PyObject_ValuesPointer(obj);
  if (values == NULL) return NULL;  // kept in a dict now
  return values->values[slot->index];  // NULL when not set on this object
}
