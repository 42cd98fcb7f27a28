// Runs small Python programs under the shim and checks the trace they leave:
// the expected events with ids that line up, a file readable while the
// program runs, and a file that survives SIGKILL.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/shim/trace_decode.h"

extern char** environ;

namespace waitgraph::shimtest {
namespace {

namespace fs = std::filesystem;
using trace::EventKind;

struct Child {
  pid_t pid = -1;
  int out_fd = -1;  // child's stdout
};

std::string TempDir() {
  std::string templ = (fs::temp_directory_path() / "wg-shim-test-XXXXXX").string();
  char* d = mkdtemp(templ.data());
  EXPECT_NE(d, nullptr);
  return templ;
}

// Starts WAITGRAPH_PYTHON SCRIPT with the shim on (PYTHONPATH, WAITGRAPH_TRACE).
Child Spawn(const std::string& script, const std::string& trace, const std::string& tmpdir,
            const std::string& trace_env = "") {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (kv.rfind("PYTHONPATH=", 0) == 0 || kv.rfind("WAITGRAPH_", 0) == 0 ||
        kv.rfind("TMPDIR=", 0) == 0)
      continue;
    env.push_back(kv);
  }
  env.push_back(std::string("PYTHONPATH=") + WAITGRAPH_SHIM_DIR);
  const std::string& value = trace_env.empty() ? trace : trace_env;
  if (!value.empty()) env.push_back("WAITGRAPH_TRACE=" + value);
  env.push_back("TMPDIR=" + tmpdir);
  // The per-user directory (live pointers) inside the test's own.
  env.push_back("WAITGRAPH_DIR=" + tmpdir + "/private");
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string python = WAITGRAPH_PYTHON;
  std::vector<char*> argv = {python.data(), const_cast<char*>(script.c_str()), nullptr};

  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  Child child;
  EXPECT_EQ(posix_spawn(&child.pid, python.c_str(), &actions, nullptr, argv.data(), envp.data()),
            0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  child.out_fd = fds[0];
  return child;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  return out;
}

std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  return line;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

std::string Program(const char* name) {
  return std::string(WAITGRAPH_SHIM_TEST_DIR) + "/programs/" + name;
}

std::vector<const Event*> Find(const Trace& t, EventKind kind, const std::string& name = "") {
  std::vector<const Event*> out;
  for (const Event& e : t.events)
    if (e.kind == kind && (name.empty() || e.name == name)) out.push_back(&e);
  return out;
}

const Event* FindOne(const Trace& t, EventKind kind, const std::string& name = "") {
  auto all = Find(t, kind, name);
  return all.empty() ? nullptr : all.front();
}

TEST(ShimRecording, SmallProgram) {
  std::string tmp = TempDir();
  std::string trace = tmp + "/small.wgtrace";
  Child c = Spawn(Program("small_program.py"), trace, tmp);
  std::string out = ReadAll(c.out_fd);
  close(c.out_fd);
  int status = Wait(c.pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(out, "result 2\nasgiref 5\n");

  Trace t = DecodeFile(trace);
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.pending_bytes, 0u);
  EXPECT_FALSE(t.undefined_ids);
  EXPECT_EQ(t.process.pid(), uint32_t(c.pid));
  EXPECT_EQ(t.process.python_version().substr(0, 2), "3.");
  ASSERT_GE(t.process.argv_size(), 1);
  EXPECT_THAT(t.process.argv(0), testing::HasSubstr("small_program.py"));
  EXPECT_GT(t.process.start_unix_ns(), 0u);
  EXPECT_GT(t.process.library_prefixes_size(), 0);
  for (size_t i = 0; i < t.sequences.size(); ++i) EXPECT_EQ(t.sequences[i], i);
  ASSERT_FALSE(t.events.empty());
  EXPECT_EQ(t.events.back().kind, trace::SHIM_STOPPED);
  // The pointer file is removed on a clean stop.
  EXPECT_FALSE(fs::exists(tmp + "/private/live/" + std::to_string(c.pid)));

  const uint64_t main_tid = uint64_t(c.pid);
  const Event* main_started = FindOne(t, trace::THREAD_STARTED, "MainThread");
  ASSERT_NE(main_started, nullptr);
  EXPECT_EQ(main_started->subject, main_tid);

  // Executor: created, submit, work on a worker, result waited for.
  const Event* created = FindOne(t, trace::EXECUTOR_CREATED, "wgtest");
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->arg, 2);
  ASSERT_FALSE(created->stack.empty());
  EXPECT_EQ(created->stack[0].function, "main");
  EXPECT_FALSE(created->stack[0].library);
  const Event* submit = FindOne(t, trace::EXECUTOR_SUBMIT, "work");
  ASSERT_NE(submit, nullptr);
  EXPECT_EQ(submit->subject, created->subject);
  ASSERT_FALSE(submit->stack.empty());
  EXPECT_EQ(submit->stack[0].function, "main");
  EXPECT_THAT(submit->stack[0].file, testing::HasSubstr("small_program.py"));
  const uint64_t future = submit->object;
  const Event* begin = nullptr;
  const Event* end = nullptr;
  for (const Event& e : t.events) {
    if (e.kind == trace::WORK_BEGIN && e.object == future) begin = &e;
    if (e.kind == trace::WORK_END && e.object == future) end = &e;
  }
  ASSERT_NE(begin, nullptr);
  ASSERT_NE(end, nullptr);
  EXPECT_EQ(begin->subject, created->subject);
  EXPECT_NE(begin->thread, main_tid);
  EXPECT_LE(submit->time_ns, begin->time_ns);
  const Event* done = nullptr;
  for (const Event& e : t.events)
    if (e.kind == trace::FUTURE_DONE && e.subject == future) done = &e;
  ASSERT_NE(done, nullptr);
  // Future.result may find the future already done (then nothing is recorded).
  for (const Event* w : Find(t, trace::WAIT_BEGIN, "Future.result")) {
    if (w->object != future) continue;
    EXPECT_EQ(w->arg & 0xff, trace::ENTITY_FUTURE);
    EXPECT_EQ(w->stack.at(0).function, "main");
  }
  const Event* shutdown = FindOne(t, trace::EXECUTOR_SHUTDOWN);
  ASSERT_NE(shutdown, nullptr);
  EXPECT_EQ(shutdown->subject, created->subject);
  EXPECT_EQ(shutdown->arg, trace::SHUTDOWN_WAIT);

  // Thread start and join.
  const Event* joiner = FindOne(t, trace::THREAD_STARTED, "joiner");
  ASSERT_NE(joiner, nullptr);
  EXPECT_EQ(joiner->object, main_tid);
  EXPECT_EQ(joiner->thread, joiner->subject);
  ASSERT_FALSE(joiner->stack.empty());
  EXPECT_EQ(joiner->stack[0].function, "main");
  bool exited = false;
  for (const Event* e : Find(t, trace::THREAD_EXITED)) exited |= e->subject == joiner->subject;
  EXPECT_TRUE(exited);
  const Event* join = nullptr;
  for (const Event* w : Find(t, trace::WAIT_BEGIN, "Thread.join"))
    if (w->object == joiner->subject) join = w;
  ASSERT_NE(join, nullptr);
  EXPECT_EQ(join->arg, trace::ENTITY_THREAD);
  EXPECT_EQ(join->thread, main_tid);
  EXPECT_EQ(join->stack.at(0).function, "main");

  // Loop: created, run on the main thread.
  const Event* loop = FindOne(t, trace::LOOP_CREATED);
  ASSERT_NE(loop, nullptr);
  EXPECT_FALSE(loop->stack.empty());
  const Event* run = FindOne(t, trace::LOOP_RUN_BEGIN);
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->subject, loop->subject);
  EXPECT_EQ(run->thread, main_tid);
  EXPECT_NE(FindOne(t, trace::LOOP_RUN_END), nullptr);
  EXPECT_NE(FindOne(t, trace::LOOP_CLOSED), nullptr);

  // asgiref: async_to_sync from the loop's sync thread hands its future to
  // the running loop, and that thread waits for it.
  const Event* producer = FindOne(t, trace::FUTURE_PRODUCER, "AsyncToSync");
  ASSERT_NE(producer, nullptr);
  EXPECT_EQ(producer->object, loop->subject);
  EXPECT_EQ(producer->arg, trace::ENTITY_LOOP);
  EXPECT_NE(producer->thread, main_tid);
  ASSERT_FALSE(producer->stack.empty());
  EXPECT_EQ(producer->stack[0].function, "AsyncToSync.__call__");
  EXPECT_TRUE(producer->stack[0].library);
  const Event* cte = FindOne(t, trace::WAIT_BEGIN, "CurrentThreadExecutor.run_until_future");
  ASSERT_NE(cte, nullptr);
  bool waited_for_producer = false;
  for (const Event* w : Find(t, trace::WAIT_BEGIN, "CurrentThreadExecutor.run_until_future"))
    waited_for_producer |= w->object == producer->subject && w->thread == producer->thread;
  EXPECT_TRUE(waited_for_producer);

  // Every wait ends.
  EXPECT_EQ(Find(t, trace::WAIT_BEGIN).size(), Find(t, trace::WAIT_END).size());
  // No frame of the shim itself in any stack.
  for (const Event& e : t.events)
    for (const Frame& f : e.stack) EXPECT_THAT(f.file, testing::Not(testing::HasSubstr("/waitgraph/")));
  fs::remove_all(tmp);
}

TEST(ShimRecording, ReadableWhileRunningAndSurvivesSigkill) {
  std::string tmp = TempDir();
  std::string trace = tmp + "/busy-" + "%p" + ".wgtrace";
  Child c = Spawn(Program("busy_program.py"), "", tmp, trace);
  trace.replace(trace.find("%p"), 2, std::to_string(c.pid));
  ASSERT_EQ(ReadLine(c.out_fd), "ready");
  usleep(200 * 1000);

  // Live: the pointer's first line names the trace (then the start time).
  std::ifstream pointer(tmp + "/private/live/" + std::to_string(c.pid));
  std::string pointed;
  std::getline(pointer, pointed);
  EXPECT_EQ(pointed, trace);
  trace::ChunkFileReader live(trace);
  std::vector<trace::TraceChunk> chunks;
  EXPECT_TRUE(live.Poll(chunks)) << live.status();
  EXPECT_GE(chunks.size(), 3u);
  size_t live_events = DecodeChunks(chunks).events.size();
  EXPECT_GT(live_events, 50u);

  usleep(200 * 1000);
  const uint64_t killed_at = MonotonicNs();
  kill(c.pid, SIGKILL);
  int status = Wait(c.pid);
  close(c.out_fd);
  EXPECT_TRUE(WIFSIGNALED(status));

  Trace t = DecodeFile(trace);
  EXPECT_TRUE(t.ok) << t.error;  // all whole chunks decode
  EXPECT_FALSE(t.undefined_ids);
  EXPECT_GT(t.events.size(), live_events);
  ASSERT_FALSE(t.events.empty());
  // Current to ~100 ms before the kill (flush every 50 ms).
  EXPECT_GT(t.events.back().time_ns + 150u * 1000 * 1000, killed_at);
  fs::remove_all(tmp);
}

TEST(ShimRecording, ExplicitApi) {
  std::string tmp = TempDir();
  std::string script = tmp + "/explicit.py";
  std::ofstream(script) << "import waitgraph, os\n"
                           "print(waitgraph.is_running())\n"
                           "try:\n"
                           "    waitgraph.start('" << tmp << "/no/such/dir/x.wgtrace')\n"
                           "except OSError as e:\n"
                           "    print('OSError', e.errno)\n"
                           "waitgraph.start('" << tmp << "/explicit-%p.wgtrace')\n"
                           "print(waitgraph.is_running(), waitgraph.trace_path() == '"
                        << tmp << "/explicit-%d.wgtrace' % os.getpid())\n"
                           "try:\n"
                           "    waitgraph.start('" << tmp << "/again.wgtrace')\n"
                           "except RuntimeError:\n"
                           "    print('RuntimeError')\n"
                           "print(waitgraph.stop(), waitgraph.is_running(), waitgraph.stop())\n";
  // No WAITGRAPH_TRACE: sitecustomize does not start anything.
  Child c = Spawn(script, "", tmp);
  std::string out = ReadAll(c.out_fd);
  close(c.out_fd);
  Wait(c.pid);
  EXPECT_EQ(out, "False\nOSError 2\nTrue True\nRuntimeError\nTrue False False\n");
  Trace t = DecodeFile(tmp + "/explicit-" + std::to_string(c.pid) + ".wgtrace");
  EXPECT_TRUE(t.ok);
  ASSERT_FALSE(t.events.empty());
  EXPECT_EQ(t.events.back().kind, trace::SHIM_STOPPED);
  fs::remove_all(tmp);
}

// The loop checks read loop._closed and loop._thread_id from the loop's
// inline values when they are there (native/instance_attrs.h): a closed
// loop, one whose attributes moved into a dict, a loop class given a
// `_closed` property after the shim first read it (and losing it again),
// and a loop run by another thread are each seen as Python sees them. One
// LOOP_CALL per line the program prints as suspect, none for the others.
TEST(ShimRecording, LoopChecksSeeTheLoopStateWhereverItIsKept) {
  std::string tmp = TempDir();
  std::string trace_path = tmp + "/loop_state.wgtrace";
  Child c = Spawn(Program("loop_state_program.py"), trace_path, tmp);
  std::string out = ReadAll(c.out_fd);
  close(c.out_fd);
  int status = Wait(c.pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  Trace t = DecodeFile(trace_path);
  ASSERT_TRUE(t.ok);
  std::vector<uint32_t> lines;  // the program's line of each call_soon check that fired
  for (const Event* e : Find(t, trace::LOOP_CALL, "call_soon")) {
    ASSERT_GE(e->stack.size(), 2u);
    EXPECT_EQ(e->stack[0].function, "call_soon_on");
    lines.push_back(e->stack[1].line);
  }
  // plain closed, dict closed, patched after, other thread.
  EXPECT_THAT(lines, ::testing::ElementsAre(27, 34, 46, 57)) << out;
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace waitgraph::shimtest
