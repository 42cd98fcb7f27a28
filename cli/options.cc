#include "cli/options.h"

#include "absl/strings/str_cat.h"

namespace waitgraph::cli {

std::optional<std::string> ParsedOptions::Get(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ParsedOptions> ParseOptions(const std::vector<std::string>& args,
                                           const OptionSpec& spec) {
  ParsedOptions out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.after_dashes.assign(args.begin() + i + 1, args.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      if (spec.stop_at_positional) {
        out.after_dashes.assign(args.begin() + i, args.end());
        break;
      }
      out.positional.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool has_inline_value = false;
    if (size_t eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_inline_value = true;
    }
    if (name == "--help" || name == "-h" || spec.flags.count(name)) {
      out.flags.insert(name);
      continue;
    }
    if (!spec.with_value.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", name));
    }
    if (!has_inline_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("option ", name, " needs a value"));
      }
      value = args[++i];
    }
    out.values[name] = value;
  }
  return out;
}

}  // namespace waitgraph::cli
