// Writing the CLI's output files (reports, pictures, baselines, run's
// model statistics) without being turned against their owner: the CLI is
// run as root on shared machines, and its output paths are often in /tmp.
//
// A regular file (or a path that does not exist yet) is written to a new
// file made next to it (mkstemp: a fresh name, created exclusively), then
// renamed over the path: whatever another user planted there (a symlink
// to a file of ours, a file they can still write to) is replaced, never
// written through, and a reader never sees half a report. The new file
// gets the mode a plain create would give (0666 less the umask).
// A FIFO or character device (/dev/stdout, a pipe a CI step reads) is
// written to in place, unless reaching it means following a symlink that
// the kernel's protected_symlinks rule would not follow: one in a sticky,
// world-writable directory (/tmp) owned by neither us nor the directory's
// owner. Anything else (a directory, a block device) is refused.
#ifndef WAITGRAPH_CLI_OUTPUT_FILE_H_
#define WAITGRAPH_CLI_OUTPUT_FILE_H_

#include <string>

namespace waitgraph::cli {

// Writes all of `text` to `fd`, retrying short writes and EINTR.
bool WriteAll(int fd, const std::string& text);

// Writes `text` as the whole content of `path` (see above). False, with a
// one-line `error` naming the path and the reason, if it cannot.
bool WriteOutputFile(const std::string& path, const std::string& text, std::string& error);

}  // namespace waitgraph::cli

#endif  // WAITGRAPH_CLI_OUTPUT_FILE_H_
