#include "cli/picture_args.h"

#include <filesystem>
#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/report.h"

namespace waitgraph::cli {

int PictureUsage(const std::string& name, const std::string& message) {
  std::cerr << "waitgraph: " << message << " (see `waitgraph " << name << " --help`)\n";
  return kExitBadInput;
}

int UnreadableTrace(const std::string& message) {
  std::cerr << "waitgraph: " << message
            << "; pass a trace written by `waitgraph run --trace` or WAITGRAPH_TRACE\n";
  return kExitBadInput;
}

int WritePicture(const PictureArgs& args, const std::string& text) {
  std::string error;
  if (WriteOutput(args.output, text, error)) return kExitOk;
  std::cerr << "waitgraph: " << error << "; choose another --output\n";
  return kExitCannotWrite;
}

std::variant<PictureArgs, int> ParsePictureArgs(const Args& args, const PictureCommandSpec& spec) {
  OptionSpec option_spec{.with_value = spec.more_values};
  option_spec.with_value.insert({"--format", "--output", "--source-root"});
  auto opts = ParseOptions(args, option_spec);
  if (!opts.ok()) return PictureUsage(spec.name, std::string(opts.status().message()));
  if (opts->help()) {
    std::cout << spec.help;
    return kExitOk;
  }
  bool count_ok = spec.many_traces ? !opts->positional.empty() : opts->positional.size() == 1;
  if (!count_ok) return PictureUsage(spec.name, spec.traces_wanted);
  std::string formats = absl::StrJoin(spec.formats, " or ");
  std::optional<std::string> format = opts->Get("--format");
  if (!format && spec.format_required) return PictureUsage(spec.name, "say which format: --format " + formats);
  PictureArgs out;
  out.format = format.value_or(spec.formats.front());
  if (std::find(spec.formats.begin(), spec.formats.end(), out.format) == spec.formats.end()) {
    return PictureUsage(spec.name, absl::StrCat("unknown --format ", out.format, "; use ", formats));
  }
  out.traces = opts->positional;
  out.output = opts->Get("--output").value_or("-");
  out.source_root = opts->Get("--source-root").value_or(std::filesystem::current_path().string());
  out.options = std::move(*opts);
  return out;
}

}  // namespace waitgraph::cli
