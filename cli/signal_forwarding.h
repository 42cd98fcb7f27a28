// Signals sent to `waitgraph run` belong to the program it runs: they are
// forwarded to it, and when the program dies of a signal, `run` dies of the
// same signal after printing the report, so that its own parent (a shell,
// a supervisor, CI) sees what the program did.
//
// Forwarded: every signal a process may send to ask something of a program
// (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1/2, SIGALRM, SIGWINCH, SIGCONT,
// SIGURG, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO, SIGPWR, SIGRTMIN..
// SIGRTMAX). Not forwarded: signals the kernel sent to the terminal's whole
// foreground process group (Ctrl-C, Ctrl-\, a window resize: the program,
// in that group too, already has them), SIGKILL/SIGSTOP (cannot be caught),
// job control stops (SIGTSTP/SIGTTIN/SIGTTOU stop `run` itself), SIGCHLD and
// SIGPIPE (about `run` itself), and faults (SIGSEGV & co.). A signal that
// was ignored when `run` started (SIGHUP under nohup) stays ignored, for
// `run` and the program alike.
#ifndef WAITGRAPH_CLI_SIGNAL_FORWARDING_H_
#define WAITGRAPH_CLI_SIGNAL_FORWARDING_H_

#include <signal.h>
#include <sys/types.h>

namespace waitgraph::cli {

class SignalForwarder {
 public:
  // Before fork(): installs the forwarders, with the signals blocked until
  // the program's pid is known (none is lost, none reaches a half-made child).
  void PrepareSpawn();
  // In the child, before exec(): what `run` inherited (dispositions, mask).
  void RestoreInChild();
  // In `run` after fork(): forward to `child` from now on (and what came
  // meanwhile).
  void ForwardTo(pid_t child);

 private:
  sigset_t blocked_;
  sigset_t saved_mask_;
};

// The status `run` should end with for a program that ended with `status`
// (from waitpid): its exit code; if it was killed by a signal, `run` kills
// itself with the same signal (without a core file of its own) and returns
// 128+N only if that signal cannot kill it.
int ExitLikeProgram(int status);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_SIGNAL_FORWARDING_H_
