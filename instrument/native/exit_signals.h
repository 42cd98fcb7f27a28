// A process killed by SIGTERM, SIGHUP or SIGINT with the default action
// (Python sets no handler for SIGTERM or SIGHUP: a multiprocessing worker
// ended by Pool.terminate(), a service stopped by systemd) would lose what
// it recorded since the writer's last flush (up to WAITGRAPH_FLUSH_MS).
//
// For each of these signals whose disposition is SIG_DFL when the shim
// starts, a C handler (sigaction, not signal.signal: Python's own record,
// what signal.getsignal() returns, stays SIG_DFL) asks the writer thread to
// write everything buffered and waits for it, bounded, with async-signal-
// safe calls only (atomics, clock_gettime, nanosleep); then, the
// disposition already SIG_DFL again (SA_RESETHAND), it raises the signal
// once more, so the process dies of it exactly as it would have, and its
// parent sees the same status. A handler the program installs, before or
// after, replaces it; an ignored signal stays ignored; exec resets it.
// SIGKILL cannot be caught: a SIGKILLed process loses its last flush
// interval.
#ifndef WAITGRAPH_INSTRUMENT_NATIVE_EXIT_SIGNALS_H_
#define WAITGRAPH_INSTRUMENT_NATIVE_EXIT_SIGNALS_H_

#include <cstdint>

namespace waitgraph::shim {

// Installs the handler on every exit signal still at SIG_DFL (once per
// process image; a forked child inherits it). `wait_ms` bounds the wait.
void InstallExitSignalFlush(int wait_ms);

// The shim's own threads (the writer, the watchdogs) block the exit
// signals, so the handler never runs on the thread it waits for.
void BlockExitSignalsOnThisThread();

// Writer side: the latest flush a handler asked for, and, once everything
// buffered before that request is written, the same number back.
uint64_t ExitFlushRequested();
void ExitFlushDone(uint64_t request);

}  // namespace waitgraph::shim

#endif  // WAITGRAPH_INSTRUMENT_NATIVE_EXIT_SIGNALS_H_
