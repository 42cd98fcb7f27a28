#include "cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "cli/output_file.h"

namespace waitgraph::cli {
namespace {

}  // namespace

Progress::Progress(std::string what, int fd, int delay_ms, bool force)
    : what_(std::move(what)), fd_(fd), delay_ms_(delay_ms) {
  if (force || isatty(fd_)) thread_ = std::thread([this] { Run(); });
}

Progress::~Progress() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (shown_) WriteAll(fd_, "\r\x1b[K");  // erase the progress line
}

void Progress::Run() {
  using namespace std::chrono;
  const auto start = steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_for(lock, milliseconds(delay_ms_), [this] { return done_; })) return;
  static constexpr char kSpinner[] = "|/-\\";
  for (int tick = 0; !done_; ++tick) {
    auto seconds = duration_cast<duration<double>>(steady_clock::now() - start).count();
    WriteAll(fd_, absl::StrCat("\r\x1b[Kwaitgraph: analysing ", what_, " ", std::string(1, kSpinner[tick % 4]), " ",
                               static_cast<int>(seconds), " s"));
    shown_ = true;
    cv_.wait_for(lock, milliseconds(250), [this] { return done_; });
  }
}

}  // namespace waitgraph::cli
