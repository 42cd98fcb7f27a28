#include "instrument/native/context_hooks.h"
#include "trace/waitgraph_trace.pb.h"

#include <cstddef>
#include <cstring>
#include <new>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "instrument/native/hook.h"
#include "instrument/native/emit.h"
#include "instrument/native/interp_frames.h"
#include "instrument/native/kept_counts.h"
#include "instrument/native/object_ids.h"
#include "instrument/native/stack_walker.h"
#include "instrument/native/recorder.h"
#include "instrument/native/state.h"

namespace waitgraph::shim {
namespace {

// Proto values (trace/waitgraph_trace.proto).
constexpr uint32_t kContextCopied = trace::CONTEXT_COPIED, kVarSet = trace::CONTEXT_VAR_SET,
                   kVarGet = trace::CONTEXT_VAR_GET, kVarReset = trace::CONTEXT_VAR_RESET,
                   kContextHandoff = trace::CONTEXT_HANDOFF, kContextGone = trace::CONTEXT_GONE;
constexpr int64_t kCopyExplicit = trace::CONTEXT_COPY_EXPLICIT;

// CPython 3.11's token object (Include/internal/pycore_context.h). Only
// tok_ctx is read, to tell which context a token was made in.
struct TokenLayout {
  PyObject_HEAD
  PyObject* tok_ctx;
  PyObject* tok_var;
  PyObject* tok_oldval;
  int tok_used;
};

struct VarInfo {
  uint64_t id = 0;
  uint32_t name = 0;          // interned in the recorder's intern epoch `name_epoch`
  uint64_t name_epoch = ~0ull;
  uint64_t sets = 0;          // bumped by every recorded set/reset of this var
  // Bumped when a recorded event of this var happens in another context
  // than the previous one: "someone else looked since".
  uint64_t epoch = 0;
  uint64_t last_context = 0;  // key of the context of the last recorded event
  // The thread state's (id, context_ver) at the last get: while neither
  // changes (no set, no context switch) and nothing was set elsewhere, a get
  // would be deduplicated anyway, so it is skipped without any look-up.
  uint64_t get_tstate = 0;
  uint64_t get_context_ver = 0;
  uint64_t get_sets = ~0ull;
};

struct ReadKey {
  uint64_t context, var;
  bool operator==(const ReadKey& o) const { return context == o.context && var == o.var; }
};
struct ReadKeyHash {
  size_t operator()(const ReadKey& k) const {
    return std::hash<uint64_t>()(k.context) * 1000003u ^ std::hash<uint64_t>()(k.var);
  }
};
// What was last recorded for one (context, var).
struct LastRead {
  bool read = false;
  bool found = false;
  uint64_t sets = 0;       // var's `sets` at the last recorded read
  bool set = false;
  uint64_t set_epoch = 0;  // var's `epoch` at the last recorded set
};

// Keys are borrowed: a ContextVar cannot be weakly referenced, so the
// type's tp_dealloc is wrapped (VarDealloc) to drop a var's entry as it
// dies, before its address can be another var's. Vars are meant to be
// module globals, but a program that makes one per request or per object
// (a library's "ContextVar(f'{name}-{id}')") must neither keep them alive
// nor grow this table.
std::unordered_map<PyObject*, VarInfo>* g_vars;
// The last recorded read of each (context, var): a read that would say the
// same thing again (same outcome, nothing set since) is not recorded.
std::unordered_map<ReadKey, LastRead, ReadKeyHash>* g_reads;
// The vars of g_reads per context: a context's entries go when it dies
// (its id is never given to another object), so a server making a context
// per request keeps the state of the live ones only.
std::unordered_map<uint64_t, std::vector<uint64_t>>* g_vars_of_context;
// Contexts named by a CONTEXT_COPIED, alive (CONTEXT_GONE when they die).
std::unordered_set<uint64_t>* g_named_contexts;
constexpr size_t kMaxNamedContexts = size_t{1} << 20;
uint64_t g_reads_generation = ~0ull;
// Backstops (many live contexts, or contexts that are never freed):
// forgetting costs at most a read or set recorded again.
constexpr size_t kMaxReads = size_t{1} << 20;
// Addresses of tokens of unrecorded sets: a token cannot be weakly
// referenced, so a dead one's address stays until its reset or until the
// set is cleared; a live token forgotten that way has its reset recorded.
constexpr size_t kMaxUnrecordedTokens = size_t{1} << 16;
// Code objects that call copy_context() from inside asyncio (every Handle
// copies the context): not recorded. Holds strong references.
std::unordered_map<PyObject*, bool>* g_asyncio_code;

PyMethodDef *g_get_def, *g_set_def, *g_reset_def;
PyCFunction g_orig_get, g_orig_set, g_orig_reset;
bool g_installed = false;

PyObject* CurrentContext() { return PyThreadState_Get()->context; }

uint64_t ContextId() {
  PyObject* ctx = CurrentContext();
  return ctx == nullptr ? 0 : ObjectId(ctx);
}

// The VarInfo of each recently used var, by address: ContextVar.get is the
// hottest hook (a request handler reads a few vars many times), and a
// slot's compare is cheaper than the map's hash look-up. A slot never goes
// stale: a var's death empties its slot with its entry (VarDealloc), and
// an entry does not move while it is in the map.
struct VarSlot {
  PyObject* var = nullptr;
  VarInfo* info = nullptr;
};
constexpr size_t kVarSlots = 64;
VarSlot g_var_slots[kVarSlots];

VarInfo* VarSlow(PyObject* var) {
  auto it = g_vars->find(var);
  if (it == g_vars->end()) {
    it = g_vars->emplace(var, VarInfo{}).first;
    it->second.id = NewEntityId();
  }
  VarSlot& slot = g_var_slots[(reinterpret_cast<uintptr_t>(var) >> 4) % kVarSlots];
  slot.var = var;
  slot.info = &it->second;
  return &it->second;
}

destructor g_original_var_dealloc = nullptr;

// ContextVar's tp_dealloc, wrapped (installed at module init, for good):
// the var's entry and cache slot go with it. ContextVar has no finalizer
// and cannot be subclassed, so every var dies through here.
void VarDealloc(PyObject* var) {
  VarSlot& slot = g_var_slots[(reinterpret_cast<uintptr_t>(var) >> 4) % kVarSlots];
  if (slot.var == var) slot = VarSlot{};
  if (!g_vars->empty()) g_vars->erase(var);
  g_original_var_dealloc(var);
}

VarInfo* Var(PyObject* var) {
  const VarSlot& slot = g_var_slots[(reinterpret_cast<uintptr_t>(var) >> 4) % kVarSlots];
  VarInfo& info = slot.var == var ? *slot.info : *VarSlow(var);
  uint64_t epoch = TheRecorder().intern_epoch();
  if (info.name_epoch != epoch) {
    PyObject* name = PyObject_GetAttrString(var, "name");
    if (name == nullptr) PyErr_Clear();
    info.name = NameOf(name);
    Py_XDECREF(name);
    info.name_epoch = epoch;
  }
  return &info;
}

// Tokens of sets that were not recorded: their resets are not recorded
// either, so that the recorded sets and resets still pair up. A recorded set
// removes its token's address (a new token may reuse a freed one's).
std::unordered_set<PyObject*>* g_unrecorded_tokens;

uint64_t ContextKey(uint64_t ctx_id) {
  // No context yet: the thread's own empty one, per thread.
  return ctx_id != 0 ? ctx_id : (NativeThreadId() | (uint64_t{1} << 63));
}

LastRead& StateOf(uint64_t key, uint64_t var) {
  uint64_t generation = TheRecorder().generation();
  if (g_reads_generation != generation || g_reads->size() >= kMaxReads) {
    g_reads->clear();
    g_vars_of_context->clear();
    g_unrecorded_tokens->clear();
    g_reads_generation = generation;
  }
  auto [it, added] = g_reads->try_emplace(ReadKey{key, var});
  if (added) (*g_vars_of_context)[key].push_back(var);
  return it->second;
}

// A context died (object_ids.h): its state goes with it, and a reader
// hears of it (CONTEXT_GONE) if the trace named it. Called for every dead
// object with an id: two lookups for the others.
void ForgetContext(uint64_t ctx_id) {
  bool named = g_named_contexts->erase(ctx_id) > 0;
  auto it = g_vars_of_context->find(ctx_id);
  if (it != g_vars_of_context->end()) {
    for (uint64_t var : it->second) g_reads->erase(ReadKey{ctx_id, var});
    g_vars_of_context->erase(it);
    named = true;
  }
  if (named && Active()) EmitRaw(kContextGone, ctx_id, 0, 0, 0, 0);
}

// A context the trace names as copied (its death is reported even if no
// var is ever used in it). Bounded: one forgotten costs only its
// CONTEXT_GONE, which makes a reader keep its history.
uint64_t Named(uint64_t ctx_id) {
  if (ctx_id == 0) return ctx_id;
  try {
    if (g_named_contexts->size() >= kMaxNamedContexts) g_named_contexts->clear();
    g_named_contexts->insert(ctx_id);
  } catch (const std::bad_alloc&) {
    g_named_contexts->clear();  // only its CONTEXT_GONE is lost
  }
  return ctx_id;
}

void NoteUnrecordedToken(PyObject* token) {
  if (g_unrecorded_tokens->size() >= kMaxUnrecordedTokens) g_unrecorded_tokens->clear();
  g_unrecorded_tokens->insert(token);
}

void NoteRecorded(VarInfo* v, uint64_t key) {
  if (v->last_context != key) {
    ++v->epoch;
    v->last_context = key;
  }
}

// Records one get of `var` on this thread. Errors are cleared; the caller
// keeps any exception of the original aside.
void RecordGet(PyObject* var) {
  VarInfo* v = Var(var);
  PyThreadState* ts = PyThreadState_Get();
  if (v->get_tstate == ts->id && v->get_context_ver == ts->context_ver &&
      v->get_sets == v->sets) {
    return;
  }
  v->get_tstate = ts->id;
  v->get_context_ver = ts->context_ver;
  v->get_sets = v->sets;
  PyObject* ctx = ts->context;
  bool found = false;
  if (ctx != nullptr) {
    int has = PySequence_Contains(ctx, var);  // Context.__contains__, C only
    if (has < 0) PyErr_Clear();
    found = has == 1;
  }
  uint64_t ctx_id = ctx == nullptr ? 0 : ObjectId(ctx);
  uint64_t key = ContextKey(ctx_id);
  LastRead& last = StateOf(key, v->id);
  if (last.read && last.found == found && last.sets == v->sets) return;
  last.read = true;
  last.found = found;
  last.sets = v->sets;
  NoteRecorded(v, key);
  EmitRaw(kVarGet, v->id, ctx_id, v->name, found ? 1 : 0, CaptureStack());
}

PyObject* HookedGet(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  auto original = reinterpret_cast<_PyCFunctionFast>(reinterpret_cast<void (*)()>(g_orig_get));
  PyObject* result = original(self, args, nargs);
  if (!Active()) return result;
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  if (result == nullptr) PyErr_Fetch(&type, &value, &tb);  // LookupError: keep it aside
  try {
    RecordGet(self);  // C only: records nothing else on the way
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
  }
  if (PyErr_Occurred()) PyErr_Clear();
  if (result == nullptr) PyErr_Restore(type, value, tb);
  return result;
}

PyObject* HookedSet(PyObject* self, PyObject* value) {
  PyObject* result = g_orig_set(self, value);
  if (result == nullptr || !Active()) return result;
  try {
    VarInfo* v = Var(self);
    uint64_t ctx_id = ContextId();
    uint64_t key = ContextKey(ctx_id);
    LastRead& last = StateOf(key, v->id);
    // Setting again in the context that set it last, with nobody else
    // having touched the var since, tells the analysis nothing new (its
    // questions are about other contexts): not recorded.
    if (last.set && last.set_epoch == v->epoch && v->last_context == key) {
      NoteUnrecordedToken(result);
    } else {
      g_unrecorded_tokens->erase(result);
      ++v->sets;
      NoteRecorded(v, key);
      last.set = true;
      last.set_epoch = v->epoch;
      EmitRaw(kVarSet, v->id, ctx_id, v->name, 0, CaptureStack());
    }
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
  }
  if (PyErr_Occurred()) PyErr_Clear();
  return result;
}

PyObject* HookedReset(PyObject* self, PyObject* token) {
  // Recorded before the call: a token from another context makes reset
  // raise ValueError, and that is exactly the call worth recording.
  if (Active() && Py_TYPE(token) == &PyContextToken_Type) {
    auto* t = reinterpret_cast<TokenLayout*>(token);
    if (!t->tok_used && t->tok_var == self && g_unrecorded_tokens->erase(token) == 0) {
      try {
        VarInfo* v = Var(self);
        ++v->sets;
        uint64_t ctx_id = ContextId();
        uint64_t key = ContextKey(ctx_id);
        NoteRecorded(v, key);
        StateOf(key, v->id).set = false;  // the next set here is news again
        uint64_t made_in = t->tok_ctx != nullptr ? ObjectId(t->tok_ctx) : 0;
        EmitRaw(kVarReset, v->id, ctx_id, v->name, int64_t(made_in), CaptureStack());
      } catch (const std::bad_alloc&) {
        TheRecorder().Disable("out of memory");
      }
      if (PyErr_Occurred()) PyErr_Clear();
    }
  }
  return g_orig_reset(self, token);
}

PyMethodDef* MethodDef(const char* name, int flags) {
  PyObject* descr = PyDict_GetItemString(PyContextVar_Type.tp_dict, name);  // borrowed
  if (descr == nullptr || Py_TYPE(descr) != &PyMethodDescr_Type) return nullptr;
  PyMethodDef* def = reinterpret_cast<PyMethodDescrObject*>(descr)->d_method;
  if (def == nullptr || def->ml_flags != flags) return nullptr;
  return def;
}

PyObject* InstallPy(PyObject*, PyObject*) {
  if (g_installed) Py_RETURN_TRUE;
  g_get_def = MethodDef("get", METH_FASTCALL);
  g_set_def = MethodDef("set", METH_O);
  g_reset_def = MethodDef("reset", METH_O);
  if (g_get_def == nullptr || g_set_def == nullptr || g_reset_def == nullptr) Py_RETURN_FALSE;
  g_orig_get = g_get_def->ml_meth;
  g_orig_set = g_set_def->ml_meth;
  g_orig_reset = g_reset_def->ml_meth;
  g_get_def->ml_meth = reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(HookedGet));
  g_set_def->ml_meth = HookedSet;
  g_reset_def->ml_meth = HookedReset;
  g_installed = true;
  Py_RETURN_TRUE;
}

PyObject* UninstallPy(PyObject*, PyObject*) {
  if (g_installed) {
    g_get_def->ml_meth = g_orig_get;
    g_set_def->ml_meth = g_orig_set;
    g_reset_def->ml_meth = g_orig_reset;
    g_installed = false;
  }
  Py_RETURN_NONE;
}

// True if the Python code calling us lives in asyncio (Handle and the
// Python Future copy the context for every callback).
// Read in place (interp_frames.h): PyEval_GetFrame would make a frame
// object, a GC allocation, for every Handle asyncio creates.
bool CalledFromAsyncio() {
  PyCodeObject* code = nullptr;
  if (FramesLayoutOk()) {
    InterpFrame* f = CompleteFrom(InnermostFrame());
    if (f == nullptr) return false;
    code = reinterpret_cast<PyCodeObject*>(Py_NewRef(f->f_code));
  } else {
    PyFrameObject* frame = PyEval_GetFrame();  // borrowed
    if (frame == nullptr) return false;
    code = PyFrame_GetCode(frame);
  }
  PyObject* key = reinterpret_cast<PyObject*>(code);
  auto it = g_asyncio_code->find(key);
  if (it != g_asyncio_code->end()) {
    Py_DECREF(code);
    return it->second;
  }
  bool asyncio = false;
  const char* file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename)
                                                        : nullptr;
  if (file == nullptr) {
    PyErr_Clear();
  } else {
    asyncio = strstr(file, "/asyncio/") != nullptr;
  }
  g_asyncio_code->emplace(key, asyncio);  // keeps the reference from PyFrame_GetCode
  return asyncio;
}

PyObject* g_copy_context_name;

PyObject* CopyContextPy(PyObject*, PyObject*) {
  PyObject* ctx = PyContext_CopyCurrent();
  if (ctx == nullptr || !Active()) return ctx;
  try {
    if (!CalledFromAsyncio()) {
      EmitRaw(kContextCopied, Named(ObjectId(ctx)), ContextId(), NameOf(g_copy_context_name),
              kCopyExplicit, CaptureStack());
    }
  } catch (const std::bad_alloc&) {
    TheRecorder().Disable("out of memory");
  }
  if (PyErr_Occurred()) PyErr_Clear();
  return ctx;
}

int64_t AsInt(PyObject* o) {
  int64_t v = PyLong_AsLongLong(o);
  if (v == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    return 0;
  }
  return v;
}

// context_copied(ctx, api, kind): CONTEXT_COPIED(ctx <- current context).
PyObject* ContextCopiedPy(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!Active() || nargs < 3) Py_RETURN_NONE;
  EmitRaw(kContextCopied, Named(EntityOf(args[0])), ContextId(), NameOf(args[1]), AsInt(args[2]),
          CaptureStack());
  if (PyErr_Occurred()) PyErr_Clear();
  Py_RETURN_NONE;
}

// context_handoff(target, kind, api): CONTEXT_HANDOFF(target <- current).
PyObject* ContextHandoffPy(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!Active() || nargs < 3) Py_RETURN_NONE;
  EmitRaw(kContextHandoff, EntityOf(args[0]), ContextId(), NameOf(args[2]), AsInt(args[1]),
          CaptureStack());
  if (PyErr_Occurred()) PyErr_Clear();
  Py_RETURN_NONE;
}

// post(token, result, exc) of ThreadPoolExecutor.submit:
// CONTEXT_HANDOFF(the future <- current context), in C: it runs per submit.
PyObject* SubmitHandoffPost(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  static PyObject* api = PyUnicode_InternFromString("ThreadPoolExecutor.submit");
  if (!Active() || nargs < 3 || args[1] == Py_None || args[2] != Py_None || api == nullptr)
    Py_RETURN_NONE;
  EmitRaw(kContextHandoff, EntityOf(args[1]), ContextId(), NameOf(api), trace::ENTITY_FUTURE,
          CaptureStack());
  if (PyErr_Occurred()) PyErr_Clear();
  Py_RETURN_NONE;
}

PyObject* CurrentContextIdPy(PyObject*, PyObject*) {
  return PyLong_FromUnsignedLongLong(ContextId());
}

// --- create_task --------------------------------------------------------------
//
// TaskContextHook(original): replaces BaseEventLoop.create_task. When the
// caller gives no context (or None), it passes the copy Task.__init__ would
// have made itself (PyContext_CopyCurrent), so the child's context object is
// known, and records CONTEXT_COPIED(child <- current); with context=ctx it
// records ctx as shared. Being C, it adds no frame to tracebacks; attribute
// look-ups (__name__, __doc__, __wrapped__ ...) answer as the original's.

struct TaskHookObject {
  PyObject_HEAD
  PyObject* original;
  vectorcallfunc vectorcall;
};

PyObject* g_context_kw;        // "context"
PyObject* g_name_create_task;  // "create_task"
PyObject* g_name_shared;       // "create_task(context=)"
PyObject* g_task_created;      // optional Python callback(task), e.g. asgiref Local
constexpr int64_t kCopyTask = trace::CONTEXT_COPY_TASK, kCopyShared = trace::CONTEXT_COPY_SHARED;

PyObject* TaskHookVectorcall(PyObject* callable, PyObject* const* args, size_t nargsf,
                             PyObject* kwnames) {
  auto* self = reinterpret_cast<TaskHookObject*>(callable);
  if (!Active()) return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
  StackWalker::CallScope one_walk;  // CONTEXT_COPIED and LOOP_BOUND: one walk
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  Py_ssize_t ctx_at = -1;
  for (Py_ssize_t i = 0; i < nkw; ++i) {
    PyObject* k = PyTuple_GET_ITEM(kwnames, i);
    if (k == g_context_kw || PyUnicode_Compare(k, g_context_kw) == 0) ctx_at = i;
  }
  if (PyErr_Occurred()) PyErr_Clear();
  PyObject* given = ctx_at >= 0 ? args[nargs + ctx_at] : nullptr;
  PyObject* result;
  if (given != nullptr && given != Py_None) {
    EmitRaw(kContextCopied, Named(ObjectId(given)), ContextId(), NameOf(g_name_shared), kCopyShared,
            CaptureStack());
    result = PyObject_Vectorcall(self->original, args, nargsf, kwnames);
  } else {
    PyObject* ctx = PyContext_CopyCurrent();
    if (ctx == nullptr) {  // as Task.__init__ would fail; let the original say so
      PyErr_Clear();
      return PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    }
    EmitRaw(kContextCopied, Named(ObjectId(ctx)), ContextId(), NameOf(g_name_create_task), kCopyTask,
            CaptureStack());
    if (PyErr_Occurred()) PyErr_Clear();
    // Same call with context=ctx: replace the None, or append the keyword.
    Py_ssize_t total = nargs + nkw + (ctx_at >= 0 ? 0 : 1);
    PyObject* small[16];
    PyObject** argv = total <= 16 ? small : new PyObject*[size_t(total)];
    for (Py_ssize_t i = 0; i < nargs + nkw; ++i) argv[i] = args[i];
    PyObject* names = kwnames;
    if (ctx_at >= 0) {
      argv[nargs + ctx_at] = ctx;
      Py_XINCREF(names);
    } else {
      argv[nargs + nkw] = ctx;
      names = PyTuple_New(nkw + 1);
      if (names != nullptr) {
        for (Py_ssize_t i = 0; i < nkw; ++i)
          PyTuple_SET_ITEM(names, i, Py_NewRef(PyTuple_GET_ITEM(kwnames, i)));
        PyTuple_SET_ITEM(names, nkw, Py_NewRef(g_context_kw));
      }
    }
    if (names == nullptr) {
      PyErr_Clear();
      result = PyObject_Vectorcall(self->original, args, nargsf, kwnames);
    } else {
      result = PyObject_Vectorcall(self->original, argv, size_t(nargs), names);
      Py_DECREF(names);
    }
    if (argv != small) delete[] argv;
    Py_DECREF(ctx);
  }
  if (result != nullptr && g_task_created != nullptr && Active()) {
    PyObject* r = PyObject_CallOneArg(g_task_created, result);
    if (r == nullptr) PyErr_Clear();
    Py_XDECREF(r);
  }
  return result;
}

int TaskHookTraverse(PyObject* o, visitproc visit, void* arg) {
  Py_VISIT(reinterpret_cast<TaskHookObject*>(o)->original);
  return 0;
}

int TaskHookClear(PyObject* o) {
  Py_CLEAR(reinterpret_cast<TaskHookObject*>(o)->original);
  return 0;
}

void TaskHookDealloc(PyObject* o) {
  PyObject_GC_UnTrack(o);
  TaskHookClear(o);
  Py_TYPE(o)->tp_free(o);
}

PyObject* TaskHookGetattro(PyObject* o, PyObject* name) {
  return WrapperGetattr(o, reinterpret_cast<TaskHookObject*>(o)->original, name);
}

PyObject* TaskHookRepr(PyObject* o) {
  return PyObject_Repr(reinterpret_cast<TaskHookObject*>(o)->original);
}

PyTypeObject g_task_hook_type = {PyVarObject_HEAD_INIT(nullptr, 0)};

PyObject* WrapCreateTaskPy(PyObject*, PyObject* original) {
  auto* self = PyObject_GC_New(TaskHookObject, &g_task_hook_type);
  if (self == nullptr) return nullptr;
  self->original = Py_NewRef(original);
  self->vectorcall = TaskHookVectorcall;
  PyObject_GC_Track(self);
  return reinterpret_cast<PyObject*>(self);
}

PyObject* SetTaskCreatedPy(PyObject*, PyObject* fn) {
  Py_XSETREF(g_task_created, fn == Py_None ? nullptr : Py_NewRef(fn));
  Py_RETURN_NONE;
}

bool InitTaskHookType(PyObject* module) {
  g_task_hook_type.tp_name = "waitgraph._native.TaskContextHook";
  g_task_hook_type.tp_basicsize = sizeof(TaskHookObject);
  g_task_hook_type.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
                              Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR;
  g_task_hook_type.tp_dealloc = TaskHookDealloc;
  g_task_hook_type.tp_traverse = TaskHookTraverse;
  g_task_hook_type.tp_clear = TaskHookClear;
  g_task_hook_type.tp_call = PyVectorcall_Call;
  g_task_hook_type.tp_vectorcall_offset = offsetof(TaskHookObject, vectorcall);
  g_task_hook_type.tp_descr_get = WrapperDescrGet;
  g_task_hook_type.tp_getattro = TaskHookGetattro;
  g_task_hook_type.tp_repr = TaskHookRepr;
  g_context_kw = PyUnicode_InternFromString("context");
  g_name_create_task = PyUnicode_InternFromString("create_task");
  g_name_shared = PyUnicode_InternFromString("create_task(context=)");
  if (g_context_kw == nullptr || g_name_create_task == nullptr || g_name_shared == nullptr)
    return false;
  return PyType_Ready(&g_task_hook_type) == 0;
}

#define FAST(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))
PyMethodDef kContextMethods[] = {
    {"contextvar_hooks_install", InstallPy, METH_NOARGS,
     "Swap ContextVar.get/set/reset for recording versions; False if unsupported."},
    {"contextvar_hooks_uninstall", UninstallPy, METH_NOARGS, "Put the originals back."},
    {"copy_context", CopyContextPy, METH_NOARGS,
     "Return a copy of the current context (contextvars.copy_context, recorded)."},
    {"context_copied", FAST(ContextCopiedPy), METH_FASTCALL, "context_copied(ctx, api, kind)"},
    {"context_handoff", FAST(ContextHandoffPy), METH_FASTCALL,
     "context_handoff(target, kind, api)"},
    {"submit_handoff_post", FAST(SubmitHandoffPost), METH_FASTCALL,
     "post of ThreadPoolExecutor.submit: CONTEXT_HANDOFF(future <- current)"},
    {"current_context_id", CurrentContextIdPy, METH_NOARGS, nullptr},
    {"wrap_create_task", WrapCreateTaskPy, METH_O,
     "A recording replacement for BaseEventLoop.create_task around `original`."},
    {"set_task_created_callback", SetTaskCreatedPy, METH_O,
     "fn(task) called after each recorded create_task (None: none)."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

void CountContextHooks(KeptCounts& out) {
  out.emplace_back("context_hooks.vars", g_vars->size());
  out.emplace_back("context_hooks.reads", g_reads->size());
  out.emplace_back("context_hooks.contexts_read", g_vars_of_context->size());
  out.emplace_back("context_hooks.named_contexts", g_named_contexts->size());
  out.emplace_back("context_hooks.unrecorded_tokens", g_unrecorded_tokens->size());
  out.emplace_back("context_hooks.asyncio_code", g_asyncio_code->size());
}

bool InitContextHooks(PyObject* module) {
  g_vars = new std::unordered_map<PyObject*, VarInfo>();
  g_original_var_dealloc = PyContextVar_Type.tp_dealloc;
  PyContextVar_Type.tp_dealloc = VarDealloc;
  g_reads = new std::unordered_map<ReadKey, LastRead, ReadKeyHash>();
  g_vars_of_context = new std::unordered_map<uint64_t, std::vector<uint64_t>>();
  g_named_contexts = new std::unordered_set<uint64_t>();
  AddObjectGoneListener(ForgetContext);
  g_unrecorded_tokens = new std::unordered_set<PyObject*>();
  g_asyncio_code = new std::unordered_map<PyObject*, bool>();
  g_copy_context_name = PyUnicode_InternFromString("copy_context");
  if (g_copy_context_name == nullptr || !InitTaskHookType(module)) return false;
  return PyModule_AddFunctions(module, kContextMethods) == 0;
}

}  // namespace waitgraph::shim
