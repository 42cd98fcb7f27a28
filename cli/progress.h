// A progress line on stderr while a trace takes more than a second to
// analyse: only on a terminal (never in a log or a pipe), and erased when
// the work is done, so the report that follows starts on a clean line.
#ifndef WAITGRAPH_CLI_PROGRESS_H_
#define WAITGRAPH_CLI_PROGRESS_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace waitgraph::cli {

class Progress {
 public:
  // Shows "waitgraph: analysing `what` ... N s" once `delay_ms` passed,
  // if `fd` is a terminal (force: even if it is not, for tests).
  explicit Progress(std::string what, int fd = 2, int delay_ms = 1000, bool force = false);
  ~Progress();  // stops and erases the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

 private:
  void Run();

  std::string what_;
  int fd_;
  int delay_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool shown_ = false;
  std::thread thread_;
};

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_PROGRESS_H_
