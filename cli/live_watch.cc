#include "cli/live_watch.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "analyzer/wait_graph.h"
#include "cli/commands.h"
#include "cli/report.h"
#include "cli/shim_locator.h"
#include "rules/describe.h"
#include "rules/rule_table.h"

namespace waitgraph::cli {
namespace {

using analyzer::Model;

constexpr int kRefreshMs = 1000;

std::string Seconds(analyzer::TimeNs ns) { return absl::StrFormat("%.1f s", ns / 1e9); }

void AddThreads(const Model& model, std::vector<std::string>& lines) {
  lines.push_back("THREADS");
  int shown = 0;
  for (const auto& [tid, t] : model.threads()) {
    if (t.exited) continue;
    ++shown;
    std::string state;
    if (const analyzer::Wait* w = rules::OutermostWait(model, tid)) {
      state = absl::StrCat("waits ", Seconds(model.last_time() - w->begin), " in ",
                           rules::DescribeWaitChain(model, tid));
      if (const analyzer::Frame* f = model.UserFrame(w->stack)) {
        absl::StrAppend(&state, "  (", analyzer::ShortLocation(*f), ")");
      }
    } else if (!t.loops_running.empty()) {
      state = "runs its event loop";
    } else {
      state = "running";
    }
    lines.push_back(absl::StrFormat("  %-22s %s", model.ThreadLabel(tid), state));
  }
  if (shown == 0) lines.push_back("  (no thread seen yet)");
}

// How late `loop` is now: its thread blocked in a wait, or stuck in one
// callback (an unfinished stall), for so long; and its worst stall so far.
std::string LoopLag(const analyzer::TraceAnalysis& analysis, const analyzer::Loop& loop) {
  const Model& model = analysis.model();
  analyzer::TimeNs lag = 0, worst = 0;
  std::string why;
  for (const analyzer::Stall& stall : analysis.stalls().Stalls(model)) {
    if (stall.loop != loop.id) continue;
    worst = std::max(worst, stall.duration());
    if (!stall.finished && stall.duration() > lag) {
      lag = stall.duration();
      why = absl::StrCat(" (stuck in ", stall.callback, ")");
    }
  }
  if (loop.running_thread) {
    if (const analyzer::Wait* w = rules::OutermostWait(model, *loop.running_thread)) {
      if (model.last_time() - w->begin > lag) {
        lag = model.last_time() - w->begin;
        why = absl::StrCat(" (its thread blocks in ", w->api, ")");
      }
    }
  }
  std::string out = absl::StrCat("lag ", Seconds(lag), why);
  if (worst > 0) absl::StrAppend(&out, ", worst stall ", Seconds(worst));
  return out;
}

void AddLoops(const analyzer::TraceAnalysis& analysis, std::vector<std::string>& lines) {
  const Model& model = analysis.model();
  lines.push_back("EVENT LOOPS");
  int number = 0, shown = 0;
  for (const auto& [id, loop] : model.loops()) {
    ++number;
    if (loop.closed) continue;
    ++shown;
    std::string where = loop.running_thread ? absl::StrCat("on ", model.ThreadLabel(*loop.running_thread))
                                            : std::string("not running");
    lines.push_back(absl::StrFormat("  loop %d %-18s %s   %s", number, where, LoopLag(analysis, loop),
                                    rules::DescribeLoop(model, id)));
  }
  if (shown == 0) lines.push_back("  (no open event loop)");
}

void AddExecutors(const Model& model, std::vector<std::string>& lines) {
  lines.push_back("EXECUTORS");
  int shown = 0;
  for (const auto& [id, ex] : model.executors()) {
    if (ex.shut_down && ex.running.empty()) continue;
    ++shown;
    std::string name = ex.name_prefix.empty() ? absl::StrCat("executor ", shown) : ex.name_prefix;
    std::string capacity = ex.max_workers > 0 ? absl::StrCat("/", ex.max_workers) : "";
    lines.push_back(absl::StrFormat("  %-22s busy %d%s  queued %d%s   %s", name, ex.running.size(), capacity,
                                    ex.queued.size(), ex.shut_down ? "  shutting down" : "",
                                    rules::DescribeExecutor(model, id)));
  }
  if (shown == 0) lines.push_back("  (no executor in use)");
}

void AddFindings(const findings::Report& report, std::vector<std::string>& lines) {
  lines.push_back(absl::StrCat("FINDINGS (", report.findings_size(), ")"));
  for (const findings::Finding& f : report.findings()) {
    lines.push_back(absl::StrCat("  ", rules::SeverityName(f.severity()), "[", f.code(), "] ", f.name(), ": ",
                                 f.message()));
  }
  if (report.findings_size() == 0) lines.push_back("  none so far");
}

// Cuts `line` to `width` characters (UTF-8 code points: the view's own
// text is ASCII plus arrows).
std::string FitWidth(const std::string& line, size_t width) {
  size_t chars = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;
    if (chars++ == width) return line.substr(0, i);
  }
  return line;
}

// --- the terminal ---

volatile std::sig_atomic_t g_stop_signal = 0;

void OnStopSignal(int signal) { g_stop_signal = signal; }

// Raw keys, the alternate screen and a hidden cursor while it lives; all
// restored by the destructor (and before re-raising a fatal signal).
class Terminal {
 public:
  bool Enter() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) return false;
    termios raw = saved_;
    raw.c_lflag &= ~(ICANON | ECHO);  // keys one by one, not echoed; ISIG kept: Ctrl-C
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) return false;
    entered_ = true;
    Write("\x1b[?1049h\x1b[?25l");  // alternate screen, hide cursor
    return true;
  }
  ~Terminal() {
    if (!entered_) return;
    Write("\x1b[?25h\x1b[?1049l");  // show cursor, main screen
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }
  static void Write(const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = write(STDOUT_FILENO, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  static std::pair<size_t, size_t> Size() {
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
      return {ws.ws_col, ws.ws_row};
    }
    return {80, 24};
  }
  void Draw(const std::vector<std::string>& lines) {
    auto [width, height] = Size();
    std::string frame = "\x1b[H";
    for (size_t i = 0; i < lines.size() && i < height; ++i) {
      absl::StrAppend(&frame, FitWidth(lines[i], width), "\x1b[K", i + 1 < height ? "\r\n" : "");
    }
    Write(frame + "\x1b[J");
  }

 private:
  termios saved_{};
  bool entered_ = false;
};

// Waits up to `ms` for a key; true if it was q.
bool QuitPressed(int ms) {
  pollfd fd{STDIN_FILENO, POLLIN, 0};
  if (poll(&fd, 1, ms) <= 0) return false;
  char keys[32];
  ssize_t n = read(STDIN_FILENO, keys, sizeof keys);
  for (ssize_t i = 0; i < n; ++i) {
    if (keys[i] == 'q' || keys[i] == 'Q') return true;
  }
  return false;
}

bool Alive(long pid) { return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

std::string Header(const analyzer::TraceAnalysis& analysis, long pid, bool alive) {
  std::time_t now = std::time(nullptr);
  char clock[16];
  std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&now));
  const trace::ProcessInfo& process = analysis.model().process();
  std::string who = pid > 0 ? absl::StrCat("pid ", pid) : analysis.path();
  if (process.argv_size() > 0) absl::StrAppend(&who, " (", process.argv(0), ")");
  return absl::StrCat("waitgraph live: ", who, "   ", clock, "   ",
                      pid > 0 && !alive ? "PROCESS EXITED: showing its last state   " : "", "q quits");
}

std::vector<long> ChildrenOf(long pid) {
  std::vector<long> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* entry = readdir(proc)) {
    long child = 0;
    if (!absl::SimpleAtoi(entry->d_name, &child)) continue;
    std::ifstream stat(absl::StrCat("/proc/", child, "/stat"));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> fields = absl::StrSplit(text.substr(close + 1), ' ', absl::SkipEmpty());
    long parent = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &parent) && parent == pid) out.push_back(child);
  }
  closedir(proc);
  return out;
}

}  // namespace

std::vector<std::string> LiveScreen(const analyzer::TraceAnalysis& analysis,
                                    const findings::Report& report, long pid, bool alive) {
  std::vector<std::string> lines = {Header(analysis, pid, alive), ""};
  AddThreads(analysis.model(), lines);
  lines.push_back("");
  AddLoops(analysis, lines);
  lines.push_back("");
  AddExecutors(analysis.model(), lines);
  lines.push_back("");
  AddFindings(report, lines);
  return lines;
}

int WatchLive(const std::string& trace, long pid) {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    std::cerr << "waitgraph: live --watch needs a terminal; drop --watch for a one-time report\n";
    return kExitBadInput;
  }
  analyzer::TraceAnalysis analysis(trace, analyzer::ModelLimits::Following());
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {}, old_term {}, old_hup {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  sigaction(SIGHUP, &action, &old_hup);
  {
    Terminal terminal;
    if (!terminal.Enter()) {
      std::cerr << "waitgraph: cannot set the terminal to raw mode\n";
      return kExitBadInput;
    }
    bool alive = true;
    while (g_stop_signal == 0) {
      analysis.Poll();
      alive = pid > 0 ? Alive(pid) : false;
      if (alive) analysis.AdvanceClock(MonotonicNowNs());
      findings::Report report =
          BuildReport(analysis, analyzer::FindDeadlocks(analysis.model()), /*writer_gone=*/pid > 0 && !alive);
      terminal.Draw(LiveScreen(analysis, report, pid, alive));
      if (QuitPressed(kRefreshMs)) break;
    }
  }  // the terminal is restored here
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  if (int signal = g_stop_signal; signal != 0) {
    std::signal(signal, SIG_DFL);  // end as the signal asked, now the terminal is sane
    raise(signal);
  }
  return kExitOk;
}

long FollowToTracedChild(long pid, const std::function<bool(long)>& has_trace) {
  if (has_trace(pid)) return pid;
  std::deque<std::pair<long, int>> todo = {{pid, 0}};
  while (!todo.empty()) {
    auto [parent, depth] = todo.front();
    todo.pop_front();
    if (depth == 3) continue;  // a wrapper runs its program directly, or via a shell
    for (long child : ChildrenOf(parent)) {
      if (has_trace(child)) return child;
      todo.push_back({child, depth + 1});
    }
  }
  return pid;
}

}  // namespace waitgraph::cli
