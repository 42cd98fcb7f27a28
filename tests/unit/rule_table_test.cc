// The rule table, the registry, the rule docs and the README's rules table
// must agree: a rule added in one place and forgotten in another fails here,
// not in front of a user (`explain` printing nothing, a finding with no doc).
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/registry.h"
#include "rules/rule_table.h"

namespace waitgraph::rules {
namespace {

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

TEST(RuleTable, CodesAndNamesAreUnique) {
  std::set<std::string> codes, names;
  for (const RuleInfo& info : RuleTable()) {
    EXPECT_TRUE(codes.insert(Str(info.code)).second) << info.code;
    EXPECT_TRUE(names.insert(Str(info.name)).second) << info.name;
    EXPECT_EQ(FindRuleInfo(info.code), &info);
    EXPECT_EQ(FindRuleInfo(info.name), &info);
  }
}

TEST(RuleTable, EveryLiveRuleIsRegisteredOnceAndEveryRegisteredRuleIsInTheTable) {
  Registry registry;
  RegisterAllRules(registry);
  std::map<const RuleInfo*, int> registered;
  for (const auto& rule : registry.rules()) ++registered[&rule->info()];
  for (const RuleInfo& info : RuleTable()) {
    int expected = info.group == RuleGroup::kRemoved ? 0 : 1;
    EXPECT_EQ(registered[&info], expected) << info.name;
    registered.erase(&info);
  }
  EXPECT_TRUE(registered.empty()) << "a registered rule's info() is not a table entry";
}

TEST(RuleTable, EveryRuleHasItsDocWithTheFixedSections) {
  for (const RuleInfo& info : RuleTable()) {
    std::string doc = Str(info.doc);
    EXPECT_THAT(doc, testing::StartsWith("# " + Str(info.name) + " (" + Str(info.code) + ")"))
        << "rules/docs/" << info.name << ".md";
    for (const char* section : {"## What it finds", "## Why it hurts", "## Example", "## Fix"}) {
      EXPECT_THAT(doc, testing::HasSubstr(section)) << info.name;
    }
  }
}

TEST(RuleTable, TheReadmeListsEveryRuleWithItsSeverity) {
  std::ifstream in(std::string(WAITGRAPH_SOURCE_DIR) + "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  std::map<std::string, std::pair<std::string, std::string>> readme;  // code -> name, severity
  const std::regex row(R"(\| (WG\d{3}) \| ([a-z-]+) \| (error|warning|note)[^|]*\|)");  // "warning (error ≥ 1 s)"
  std::string s = text.str();
  for (auto it = std::sregex_iterator(s.begin(), s.end(), row); it != std::sregex_iterator(); ++it) {
    readme[(*it)[1]] = {(*it)[2], (*it)[3]};
  }
  std::set<std::string> live;
  for (const RuleInfo& info : RuleTable()) {
    if (info.group == RuleGroup::kRemoved) continue;
    live.insert(Str(info.code));
    auto found = readme.find(Str(info.code));
    ASSERT_NE(found, readme.end()) << info.code << " is missing from README.md's rules table";
    EXPECT_EQ(found->second.first, Str(info.name)) << info.code;
    EXPECT_EQ(found->second.second, SeverityName(info.severity)) << info.code;
  }
  for (const auto& [code, rest] : readme) {
    EXPECT_TRUE(live.count(code)) << code << " is in README.md but not a live rule";
  }
}

}  // namespace
}  // namespace waitgraph::rules
