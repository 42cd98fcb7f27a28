/* Object structs that CPython 3.11 keeps private to its extension modules
 * (Modules/_queuemodule.c, Modules/_threadmodule.c, Modules/_asynciomodule.c),
 * so python3-dev's
 * headers lack them. They are declared here as 3.11 defines them; layout_gen
 * reads them with the installed headers (for PyObject_HEAD and the types),
 * and tests/integration/test_attach.py checks the values against real
 * objects (a queue's contents, a lock's owner, tasks' names and await
 * chains) in a running interpreter.
 * Another CPython version gets its own module_structs_<TAG>.h. */
#ifndef WAITGRAPH_ATTACH_MODULE_STRUCTS_3_11_H_
#define WAITGRAPH_ATTACH_MODULE_STRUCTS_3_11_H_

/* _queue.SimpleQueue: the work queue of ThreadPoolExecutor. Its items are
 * lst[lst_pos:]. */
typedef struct {
  PyObject_HEAD
  PyThread_type_lock lock;
  int locked;
  PyObject *lst;
  Py_ssize_t lst_pos;
  PyObject *weakreflist;
} wg_simplequeueobject;

/* _thread.lock (threading.Lock). */
typedef struct {
  PyObject_HEAD
  PyThread_type_lock lock_lock;
  PyObject *in_weakreflist;
  char locked;
} wg_lockobject;

/* _thread.RLock (threading.RLock): the owner is a threading.get_ident(). */
typedef struct {
  PyObject_HEAD
  PyThread_type_lock rlock_lock;
  unsigned long rlock_owner;
  unsigned long rlock_count;
  PyObject *in_weakreflist;
} wg_rlockobject;

/* _asyncio.Task and _asyncio.Future (Modules/_asynciomodule.c,
 * FutureObj_HEAD): the loop, state, what a task awaits and its coroutine. */
typedef enum { WG_FUT_PENDING, WG_FUT_CANCELLED, WG_FUT_FINISHED } wg_fut_state;

#define WG_FUTUREOBJ_HEAD(prefix) \
  PyObject_HEAD \
  PyObject *prefix##_loop; \
  PyObject *prefix##_callback0; \
  PyObject *prefix##_context0; \
  PyObject *prefix##_callbacks; \
  PyObject *prefix##_exception; \
  PyObject *prefix##_exception_tb; \
  PyObject *prefix##_result; \
  PyObject *prefix##_source_tb; \
  PyObject *prefix##_cancel_msg; \
  wg_fut_state prefix##_state; \
  int prefix##_log_tb; \
  int prefix##_blocking; \
  PyObject *dict; \
  PyObject *prefix##_weakreflist; \
  PyObject *prefix##_cancelled_exc;

typedef struct {
  WG_FUTUREOBJ_HEAD(fut)
} wg_futureobj;

typedef struct {
  WG_FUTUREOBJ_HEAD(task)
  PyObject *task_fut_waiter;
  PyObject *task_coro;
  PyObject *task_name;
  PyObject *task_context;
  int task_must_cancel;
  int task_log_destroy_pending;
  int task_num_cancels_requested;
} wg_taskobj;

#endif
