#include "cli/signal_forwarding.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

namespace waitgraph::cli {
namespace {

volatile sig_atomic_t g_forward_to = 0;  // the program's pid, once known

std::vector<int> ForwardableSignals() {
  std::vector<int> out = {SIGHUP,  SIGINT,    SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM,
                          SIGWINCH, SIGCONT,  SIGURG,  SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ,
                          SIGIO,    SIGPWR};
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) out.push_back(sig);
  return out;
}

void Forward(int sig, siginfo_t* info, void*) {
  // SI_KERNEL: the terminal sent it to its whole foreground process group,
  // which the program is in too; sending it again would deliver it twice.
  if (info != nullptr && info->si_code == SI_KERNEL) return;
  int saved = errno;
  if (g_forward_to > 0) kill(pid_t(g_forward_to), sig);
  errno = saved;
}

bool WasIgnored(int sig) {
  struct sigaction old;
  return sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN;
}

}  // namespace

void SignalForwarder::PrepareSpawn() {
  sigemptyset(&blocked_);
  for (int sig : ForwardableSignals()) {
    if (!WasIgnored(sig)) sigaddset(&blocked_, sig);
  }
  sigprocmask(SIG_BLOCK, &blocked_, &saved_mask_);
  struct sigaction sa = {};
  sa.sa_sigaction = Forward;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  for (int sig : ForwardableSignals()) {
    if (sigismember(&blocked_, sig) == 1) sigaction(sig, &sa, nullptr);
  }
}

void SignalForwarder::RestoreInChild() {
  for (int sig : ForwardableSignals()) {
    if (sigismember(&blocked_, sig) == 1) signal(sig, SIG_DFL);
  }
  sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
}

void SignalForwarder::ForwardTo(pid_t child) {
  g_forward_to = child;
  sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
}

int ExitLikeProgram(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (!WIFSIGNALED(status)) return 1;
  int sig = WTERMSIG(status);
  g_forward_to = 0;
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // the program's core (if any) is the one that matters
  signal(sig, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  sigprocmask(SIG_UNBLOCK, &only, nullptr);
  kill(getpid(), sig);
  return 128 + sig;  // still here: the signal does not kill by default
}

}  // namespace waitgraph::cli
