/* Object structs that CPython 3.11 keeps private to its extension modules
 * (Modules/_queuemodule.c, Modules/_threadmodule.c), so python3-dev's
 * headers lack them. They are declared here as 3.11 defines them; layout_gen
 * reads them with the installed headers (for PyObject_HEAD and the types),
 * and tests/integration/test_attach.py checks the values against real
 * objects (a queue's contents, a lock's owner) in a running interpreter.
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

#endif
