#include "control/env_expand.h"

#include "config_test_util.h"

#include <gtest/gtest.h>

namespace aigw::control {
namespace {

using testing::fake_env;

std::string expand(std::string_view text, std::vector<std::string> *unset = nullptr) {
  return expand_env(text, fake_env({{"A", "1"}}), unset);
}

TEST(EnvExpand, LeavesLineCommentsAloneAndDoesNotReportTheirVariables) {
  std::vector<std::string> unset;
  EXPECT_EQ(expand("# uses ${A} and ${NOPE}\nkey: ${A} # was ${OLD}\n  # ${B}\n", &unset),
            "# uses ${A} and ${NOPE}\nkey: 1 # was ${OLD}\n  # ${B}\n");
  EXPECT_TRUE(unset.empty());
}

TEST(EnvExpand, AHashInsideQuotesOrAWordIsNotAComment) {
  EXPECT_EQ(expand("a: \"x # ${A}\"\nb: 'y # ${A}'\nc: url#${A}\nd: \"q\\\" # ${A}\"\n"),
            "a: \"x # 1\"\nb: 'y # 1'\nc: url#1\nd: \"q\\\" # 1\"\n");
  // '' is an escaped quote inside a single-quoted scalar, and an apostrophe in a plain scalar
  // opens nothing.
  EXPECT_EQ(expand("a: 'it''s # ${A}'\nb: it's ${A} # ${A}\n"),
            "a: 'it''s # 1'\nb: it's 1 # ${A}\n");
}

TEST(EnvExpand, AQuotedScalarMaySpanLines) {
  EXPECT_EQ(expand("a: \"one\n  # ${A}\"\nb: ${A} # ${A}\n"), "a: \"one\n  # 1\"\nb: 1 # ${A}\n");
}

TEST(EnvExpand, AHashInABlockScalarIsText) {
  EXPECT_EQ(expand("data: |\n  # ${A}\n\n  x ${A}\nnext: ${A} # ${A}\n"),
            "data: |\n  # 1\n\n  x 1\nnext: 1 # ${A}\n");
  EXPECT_EQ(expand("items:\n  - key: >-\n      # ${A}\n    other: # ${A}\n"),
            "items:\n  - key: >-\n      # 1\n    other: # ${A}\n");
  EXPECT_EQ(expand("- |\n  # ${A}\n# ${A}\n"), "- |\n  # 1\n# ${A}\n");
}

TEST(EnvExpand, ReportsWhereEachUnsetVariableIs) {
  std::vector<std::string> unset;
  std::vector<size_t> at;
  expand_env("a: ${X}\nb: ${Y}\n", fake_env({}), &unset, &at);
  EXPECT_EQ(unset, (std::vector<std::string>{"X", "Y"}));
  EXPECT_EQ(at, (std::vector<size_t>{3, 11}));
}

} // namespace
} // namespace aigw::control
