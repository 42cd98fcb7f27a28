// ContextVar get/set/reset and context copies, recorded in C.
//
// ContextVar is a C type whose attributes cannot be replaced, and frameworks
// call its methods constantly, so a Python-level wrapper is out of the
// question. Its methods are method descriptors whose `d_method` points at the
// static (writable) PyMethodDef table of libpython; in CPython 3.11 both the
// descriptor's vectorcall (method_vectorcall_FASTCALL/O) and the
// interpreter's specialized CALL instructions read `d_method->ml_meth` at
// every call. We swap `ml_meth` of get/set/reset for C functions that call
// the original and then record the event, so every ContextVar is covered:
// ones created before the shim started and ones made inside libraries.
// contextvar_hooks_uninstall() puts the originals back.
//
// Python API (module functions):
//   contextvar_hooks_install() -> bool   contextvar_hooks_uninstall()
//   copy_context()       the recording replacement of contextvars.copy_context
//   context_copied(ctx, api, kind)  CONTEXT_COPIED(ctx <- current context)
//   context_handoff(target, kind, api)  CONTEXT_HANDOFF(target <- current)
//   current_context_id() -> int  (0: the thread has no context yet)
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_CONTEXT_HOOKS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_CONTEXT_HOOKS_H_

#include <Python.h>

namespace waitgraph::shim {

// Adds the functions above to `module`. False (with a Python error) on failure.
bool InitContextHooks(PyObject* module);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_CONTEXT_HOOKS_H_
