// Tests for the CEL cost-expression subset: syntax, cel-go typing, evaluation errors, limits, and
// every cost expression in the upstream fixtures.
#include "ratelimit/cel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace aigw::ratelimit {
namespace {

// The value of `source` evaluated with `vars`; a failure is reported and yields a sentinel.
uint64_t eval(std::string_view source, const CelVars &vars = {}) {
  auto p = CelProgram::compile(source);
  if (!p) {
    ADD_FAILURE() << source << ": " << p.error().message;
    return 0xDEADBEEF;
  }
  auto v = p->evaluate(vars);
  if (!v) {
    ADD_FAILURE() << source << ": " << v.error().message;
    return 0xDEADBEEF;
  }
  return *v;
}

std::string compile_error(std::string_view source) {
  auto p = CelProgram::compile(source);
  if (p) return "(compiled)";
  EXPECT_EQ(p.error().source, ErrorSource::kConfig);
  return p.error().message;
}

std::string eval_error(std::string_view source, const CelVars &vars) {
  auto p = CelProgram::compile(source);
  if (!p) return "(compile error) " + p.error().message;
  auto v = p->evaluate(vars);
  if (v) return "(value) " + std::to_string(*v);
  return v.error().message;
}

TEST(Cel, MultiplicativeOperatorsBindTighterThanAdditiveOnes) {
  EXPECT_EQ(eval("1 + 2 * 3"), 7u);
  EXPECT_EQ(eval("(1 + 2) * 3"), 9u);
  EXPECT_EQ(eval("20 - 6 / 3 % 4"), 18u);
  EXPECT_EQ(eval("2 * 3 + 4 * 5"), 26u);
}

TEST(Cel, BinaryOperatorsAreLeftAssociative) {
  EXPECT_EQ(eval("10 - 4 - 3"), 3u);
  EXPECT_EQ(eval("100 / 10 / 5"), 2u);
  EXPECT_EQ(eval("7 % 4 * 2"), 6u);
  EXPECT_EQ(eval("(1 < 2) == true ? 1 : 0"), 1u);
  EXPECT_EQ(eval("1 < 2 == true ? 1 : 0"), 1u); // relations share one level, left to right
}

TEST(Cel, LogicalAndBindsTighterThanOrAndComparisonsTighterThanBoth) {
  EXPECT_EQ(eval("true || false && false ? 1 : 0"), 1u);
  EXPECT_EQ(eval("false && false || true ? 1 : 0"), 1u);
  EXPECT_EQ(eval("1 + 1 == 2 && 3 > 2 ? 1 : 0"), 1u);
  EXPECT_EQ(eval("!false && !(1 == 2) ? 1 : 0"), 1u);
  EXPECT_EQ(eval("!!true ? 1 : 0"), 1u);
}

TEST(Cel, UnaryMinusNegatesIntsAndPairsCancel) {
  EXPECT_EQ(eval("-(-3)"), 3u);
  EXPECT_EQ(eval("--3"), 3u);
  EXPECT_EQ(eval("10 + -3"), 7u);
  EXPECT_EQ(eval("2 - -3"), 5u);
  EXPECT_EQ(eval("-9223372036854775808 + 9223372036854775807 + 1"), 0u);
  EXPECT_EQ(eval("-(3 - 5)"), 2u);
}

TEST(Cel, TernaryIsRightAssociativeAndNeedsParenthesesInTheThenBranch) {
  EXPECT_EQ(eval("false ? 1 : true ? 2 : 3"), 2u);
  EXPECT_EQ(eval("false ? 1 : false ? 2 : 3"), 3u);
  EXPECT_EQ(eval("true ? (false ? 1 : 2) : 3"), 2u);
  EXPECT_EQ(compile_error("true ? false ? 1 : 2 : 3"), "cel: 1:14: unexpected token '?'");
  EXPECT_EQ(eval("1 + 1 == 2 ? 10 : 20"), 10u);
}

TEST(Cel, TernaryBranchesMustHaveOneTypeAndTheConditionMustBeBool) {
  EXPECT_NE(compile_error("true ? 1 : 2u")
                .find("no matching overload for '_?_:_' applied to "
                      "'(bool, int, uint)'"),
            std::string::npos);
  EXPECT_NE(compile_error("1 ? 1 : 2").find("'_?_:_' applied to '(int, int, int)'"),
            std::string::npos);
  EXPECT_EQ(eval("true ? 1u : 2u"), 1u);
}

TEST(Cel, LogicalOperatorsShortCircuitAndAreCommutativeOverErrors) {
  EXPECT_EQ(eval("false && (1 / 0 == 1) ? 1 : 2"), 2u);
  EXPECT_EQ(eval("true || 1 / 0 == 1 ? 1 : 2"), 1u);
  EXPECT_EQ(eval("(1 / 0 == 1) && false ? 1 : 2"), 2u); // CEL: false wins over an error
  EXPECT_EQ(eval("(1 / 0 == 1) || true ? 1 : 2"), 1u);
  EXPECT_EQ(eval("true ? 5 : 1 / 0"), 5u);
  EXPECT_EQ(eval("false ? 1 / 0 : 5"), 5u);
  EXPECT_EQ(compile_error("true && (1 / 0 == 1) ? 1 : 2"),
            "cel: evaluation: division by zero (with all variables zero)");
}

TEST(Cel, IntAndUintDoNotMixWithoutConversion) {
  std::string e = compile_error("input_tokens + 1");
  EXPECT_EQ(e.rfind("cel: 1:14: found no matching overload for '_+_' applied to '(uint, int)'", 0),
            0u)
      << e;
  EXPECT_NE(e.find("1u"), std::string::npos) << "the message suggests a uint literal";
  EXPECT_NE(compile_error("input_tokens == 3").find("'_==_' applied to '(uint, int)'"),
            std::string::npos);
  EXPECT_NE(compile_error("1 < 2u ? 1 : 0").find("'_<_' applied to '(int, uint)'"),
            std::string::npos);
  EXPECT_NE(compile_error("-3u").find("'-_' applied to '(uint)'"), std::string::npos);
  EXPECT_NE(compile_error("int(true)").find("'int' applied to '(bool)'"), std::string::npos);

  CelVars v;
  v.input_tokens = 10;
  v.output_tokens = 5;
  EXPECT_EQ(eval("input_tokens + 1u", v), 11u);
  EXPECT_EQ(eval("input_tokens + uint(1)", v), 11u);
  EXPECT_EQ(eval("int(input_tokens) * 2 + 1", v), 21u);
  EXPECT_EQ(eval("input_tokens * 3u + output_tokens * uint(2)", v), 40u);
  EXPECT_EQ(eval("input_tokens > uint(5) ? 7 : 0", v), 7u);
  EXPECT_EQ(eval("uint(int(input_tokens) + 4)", v), 14u);
}

TEST(Cel, ConversionsCheckTheirRange) {
  EXPECT_EQ(compile_error("uint(-1)"),
            "cel: evaluation: uint() argument out of range (-1) (with all variables zero)");
  EXPECT_EQ(compile_error("int(18446744073709551615u)"),
            "cel: evaluation: int() argument out of range (18446744073709551615u) (with all "
            "variables zero)");
  EXPECT_EQ(eval("int(9223372036854775807u)"), 9223372036854775807u);
  EXPECT_EQ(eval("uint('42') + 1u"), 43u);
  EXPECT_EQ(eval("int('-42') + 50"), 8u);
  EXPECT_NE(compile_error("uint('-1')").find("not a base-10"), std::string::npos);
  EXPECT_EQ(eval("18446744073709551615u"), 18446744073709551615u);
}

TEST(Cel, LiteralsCoverDecimalHexUintAndEscapedStrings) {
  EXPECT_EQ(eval("0x10 + 0X1"), 17u);
  EXPECT_EQ(eval("0xFFu"), 255u);
  EXPECT_EQ(eval("3U"), 3u);
  EXPECT_EQ(eval("'a\\'b' == \"a'b\" ? 1 : 0"), 1u);
  EXPECT_EQ(eval("\"x\\\"y\\\\z\\n\" == 'x\"y\\\\z\\n' ? 1 : 0"), 1u);
  EXPECT_EQ(eval("'' == \"\" ? 1 : 0"), 1u);
  EXPECT_EQ(eval("1 // a comment\n + 2"), 3u);
  EXPECT_EQ(compile_error("9223372036854775808"), "cel: 1:1: invalid int literal");
  EXPECT_EQ(compile_error("18446744073709551616u"), "cel: 1:1: invalid uint literal");
  EXPECT_EQ(compile_error("1.5"), "cel: 1:1: double literals are not supported");
  EXPECT_EQ(compile_error("2 * 1e3"), "cel: 1:5: double literals are not supported");
  EXPECT_EQ(compile_error("'\\x41' == 'A' ? 1 : 0"), "cel: 1:2: unsupported escape sequence '\\x'");
  EXPECT_EQ(compile_error("r'x' == 'x' ? 1 : 0"),
            "cel: 1:1: raw and bytes string literals are not supported");
}

TEST(Cel, StringVariablesCompareWithEqualityOrderingAndPrefixes) {
  const char *expr = "model == 'gpt-4o' ? output_tokens * 3u : (backend != \"cheap\" ? "
                     "total_tokens : uint(0))";
  CelVars v;
  v.output_tokens = 10;
  v.total_tokens = 15;
  v.model = "gpt-4o";
  EXPECT_EQ(eval(expr, v), 30u);
  v.model = "gpt-4o-mini";
  v.backend = "default/openai/route/r/rule/0/ref/0";
  EXPECT_EQ(eval(expr, v), 15u);
  v.backend = "cheap";
  EXPECT_EQ(eval(expr, v), 0u);

  v.model = "claude-3-opus";
  v.route_name = "default/my-route";
  EXPECT_EQ(eval("model.startsWith('claude') ? 2 : 1", v), 2u);
  EXPECT_EQ(eval("model.endsWith('opus') && route_name.contains('/my-') ? 2 : 1", v), 2u);
  EXPECT_EQ(eval("model < 'd' ? 1 : 0", v), 1u);
  EXPECT_NE(compile_error("model == 1 ? 1 : 0").find("'_==_' applied to '(string, int)'"),
            std::string::npos);
  EXPECT_NE(compile_error("input_tokens.startsWith('a') ? 1 : 0")
                .find("'startsWith' applied to 'uint.(string)'"),
            std::string::npos);
  EXPECT_EQ(compile_error("model + 'x' == 'y' ? 1 : 0"),
            "cel: 1:7: string concatenation is not supported");
}

TEST(Cel, ResultMustBeAnIntOrUint) {
  EXPECT_EQ(compile_error("input_tokens > uint(1)"),
            "cel: the result must be an int or uint, got bool");
  EXPECT_EQ(compile_error("model"), "cel: the result must be an int or uint, got string");
}

TEST(Cel, UintUnderflowIsRejectedAtCompileTime) {
  EXPECT_EQ(compile_error("uint(1)-uint(1200)"),
            "cel: evaluation: uint overflow in '-' (with all variables zero)");
  EXPECT_EQ(compile_error("input_tokens - 1u"),
            "cel: evaluation: uint overflow in '-' (with all variables zero)");
}

TEST(Cel, UintUnderflowAtRuntimeIsAnError) {
  auto p = CelProgram::compile("input_tokens - cached_input_tokens");
  ASSERT_TRUE(p) << p.error().message;
  CelVars v;
  v.input_tokens = 5;
  v.cached_input_tokens = 3;
  EXPECT_EQ(*p->evaluate(v), 2u);
  v.cached_input_tokens = 10;
  auto r = p->evaluate(v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cel: evaluation: uint overflow in '-'");
}

TEST(Cel, OverflowOfIntAndUintArithmeticIsAnError) {
  EXPECT_NE(compile_error("9223372036854775807 + 1").find("int overflow in '+'"),
            std::string::npos);
  EXPECT_NE(compile_error("-(-9223372036854775808)").find("int overflow in 'unary -'"),
            std::string::npos);
  EXPECT_NE(compile_error("-9223372036854775808 / -1").find("int overflow in '/'"),
            std::string::npos);
  CelVars v;
  v.total_tokens = 1ull << 63;
  EXPECT_EQ(eval_error("total_tokens * 2u", v), "cel: evaluation: uint overflow in '*'");
  EXPECT_EQ(eval_error("total_tokens + total_tokens", v), "cel: evaluation: uint overflow in '+'");
}

TEST(Cel, ANegativeResultIsAnError) {
  EXPECT_EQ(compile_error("-1"), "cel: evaluation: result is negative (-1) (with all variables "
                                 "zero)");
  CelVars v;
  v.input_tokens = 20;
  EXPECT_EQ(eval_error("10 - int(input_tokens)", v), "cel: evaluation: result is negative (-10)");
  v.input_tokens = 4;
  EXPECT_EQ(eval("10 - int(input_tokens)", v), 6u);
}

TEST(Cel, DivisionAndModulusByZeroAreErrors) {
  EXPECT_EQ(compile_error("1 / 0"), "cel: evaluation: division by zero (with all variables zero)");
  EXPECT_EQ(compile_error("5u % 0u"), "cel: evaluation: modulus by zero (with all variables zero)");
  const char *expr = "uint(10) / (input_tokens == uint(0) ? uint(1) : output_tokens)";
  CelVars v;
  v.input_tokens = 5;
  v.output_tokens = 2;
  EXPECT_EQ(eval(expr, v), 5u);
  v.output_tokens = 0;
  EXPECT_EQ(eval_error(expr, v), "cel: evaluation: division by zero");
}

TEST(Cel, ErrorsPointAtLineAndColumn) {
  EXPECT_EQ(compile_error("input_tokens + foo"), "cel: 1:16: undeclared reference to 'foo'");
  EXPECT_EQ(compile_error("(1 + )"), "cel: 1:6: unexpected token ')'");
  EXPECT_EQ(compile_error("1 +"), "cel: 1:4: unexpected end of input");
  EXPECT_EQ(compile_error(""), "cel: 1:1: unexpected end of input");
  EXPECT_EQ(compile_error("1 +\n  foo"), "cel: 2:3: undeclared reference to 'foo'");
  EXPECT_EQ(compile_error("size(model)"), "cel: 1:1: undeclared reference to 'size'");
  EXPECT_EQ(compile_error("model.size() ? 1 : 0"), "cel: 1:7: undeclared reference to 'size'");
  EXPECT_EQ(compile_error("model.foo == 'x' ? 1 : 0"),
            "cel: 1:6: field selection '.foo' is not supported");
  EXPECT_EQ(compile_error("'unterminated"), "cel: 1:1: unterminated string literal");
  EXPECT_EQ(compile_error("1 = 1"), "cel: 1:3: unexpected character '='");
  EXPECT_EQ(compile_error("1 2"), "cel: 1:3: unexpected token '2'");
  EXPECT_EQ(compile_error("uint(1, 2)"), "cel: 1:1: function 'uint' takes one argument");
  EXPECT_EQ(compile_error("model in ['a'] ? 1 : 0"),
            "cel: 1:7: the 'in' operator is not supported");
  EXPECT_EQ(compile_error("[1][0]"), "cel: 1:1: unexpected token '['");
  EXPECT_EQ(compile_error("'é' == model ? x : 1"), "cel: 1:16: undeclared reference to 'x'");
  EXPECT_EQ(compile_error("null"), "cel: 1:1: null is not supported");
  EXPECT_EQ(compile_error("1 + let"), "cel: 1:5: reserved identifier 'let'");
}

TEST(Cel, NestingDeeperThanTheLimitIsRejected) {
  auto nested = [](int n) { return std::string(n, '(') + "1" + std::string(n, ')'); };
  EXPECT_EQ(eval(nested(CelProgram::kMaxDepth - 1)), 1u);
  EXPECT_NE(compile_error(nested(CelProgram::kMaxDepth)).find("nests deeper than 64 levels"),
            std::string::npos);
  EXPECT_NE(compile_error(nested(1000)).find("nests deeper"), std::string::npos);

  std::string sum = "1";
  for (int i = 1; i < CelProgram::kMaxDepth; ++i)
    sum += " + 1";
  EXPECT_EQ(eval(sum), static_cast<uint64_t>(CelProgram::kMaxDepth));
  EXPECT_NE(compile_error(sum + " + 1").find("nests deeper"), std::string::npos);

  std::string ternaries;
  for (int i = 0; i < 200; ++i)
    ternaries += "false ? 1 : ";
  EXPECT_NE(compile_error(ternaries + "0").find("nests deeper"), std::string::npos);

  EXPECT_EQ(eval(std::string(1001, '!') + "false ? 1 : 0"), 1u); // a run, not nesting
}

TEST(Cel, SourceLongerThanTheLimitIsRejected) {
  std::string padded = "1" + std::string(CelProgram::kMaxSourceBytes - 1, ' ');
  EXPECT_EQ(eval(padded), 1u);
  EXPECT_EQ(compile_error(padded + " "), "cel: expression is longer than 4096 bytes");
}

TEST(Cel, ProgramsAreEvaluatedConcurrently) {
  auto p = CelProgram::compile("model == 'm' ? input_tokens * 2u : output_tokens");
  ASSERT_TRUE(p) << p.error().message;
  const CelProgram &prog = *p;
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 2000; ++i) {
        CelVars v;
        v.model = t % 2 ? "m" : "n";
        v.input_tokens = i;
        v.output_tokens = i + 1;
        auto r = prog.evaluate(v);
        if (!r || *r != (t % 2 ? 2 * i : i + 1)) ++wrong[t];
      }
    });
  }
  for (auto &th : threads)
    th.join();
  for (int w : wrong)
    EXPECT_EQ(w, 0);
}

// ---- upstream fixtures

#ifdef AIGW_SHARED_DIR
constexpr const char *kSharedDir = AIGW_SHARED_DIR;
#else
constexpr const char *kSharedDir = nullptr;
#endif

std::string strip(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

size_t indent(const std::string &line) {
  size_t i = line.find_first_not_of(' ');
  return i == std::string::npos ? line.size() : i;
}

bool is_item(const std::string &line) { return strip(line).rfind("- ", 0) == 0; }

// A block-style key's column: `- key:` keys sit two columns right of the dash.
size_t key_column(const std::string &line) { return indent(line) + (is_item(line) ? 2 : 0); }

std::string key_value(const std::string &line) {
  std::string s = strip(line);
  return is_item(line) ? strip(s.substr(2)) : s;
}

// A YAML scalar written after `key: `: quoted (single or double) or plain (to a comment).
std::string yaml_scalar(std::string_view v) {
  std::string s = strip(v), out;
  if (s.empty()) return s;
  if (s[0] == '"') {
    for (size_t i = 1; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out += s[i];
    }
    return out;
  }
  if (s[0] == '\'') {
    for (size_t i = 1; i < s.size(); ++i) {
      if (s[i] == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        break;
      }
      out += s[i];
    }
    return out;
  }
  size_t comment = s.find(" #");
  return strip(s.substr(0, comment));
}

// The cost expressions of a YAML file: `costExpression:` values, and `cel:` values of list items
// that also say `type: CEL` (llmRequestCosts); MCP authorization `cel:` rules are another
// environment and are skipped.
std::vector<std::string> cost_expressions(const std::vector<std::string> &lines) {
  std::vector<std::string> out;
  for (size_t k = 0; k < lines.size(); ++k) {
    const std::string kv = key_value(lines[k]);
    if (kv.rfind("costExpression:", 0) == 0) {
      out.push_back(yaml_scalar(kv.substr(15)));
      continue;
    }
    if (kv.rfind("cel:", 0) != 0) continue;
    const size_t col = key_column(lines[k]);
    bool typed = false;
    auto skip = [&](size_t j) {
      std::string s = strip(lines[j]);
      return s.empty() || s[0] == '#';
    };
    for (size_t j = k + 1; j-- > 0;) { // this line and the mapping's lines above it
      if (skip(j)) continue;
      if (key_column(lines[j]) < col) break;
      if (key_column(lines[j]) == col && key_value(lines[j]) == "type: CEL") typed = true;
      if (is_item(lines[j]) && key_column(lines[j]) == col) break;
    }
    for (size_t j = k + 1; j < lines.size(); ++j) { // and below it
      if (skip(j)) continue;
      if (key_column(lines[j]) < col || (is_item(lines[j]) && key_column(lines[j]) == col)) break;
      if (key_column(lines[j]) == col && key_value(lines[j]) == "type: CEL") typed = true;
    }
    if (typed) out.push_back(yaml_scalar(kv.substr(4)));
  }
  return out;
}

TEST(Cel, EveryCostExpressionInTheUpstreamFixturesCompiles) {
  if (kSharedDir == nullptr) GTEST_SKIP() << "AIGW_SHARED_DIR not defined";
  const std::filesystem::path root = std::string(kSharedDir) + "/fixtures/envoy-ai-gateway";
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) GTEST_SKIP() << "no fixtures at " << root;
  std::vector<std::pair<std::string, std::string>> found; // file, expression
  for (auto it = std::filesystem::recursive_directory_iterator(
           root, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto ext = it->path().extension();
    if (!it->is_regular_file() || (ext != ".yaml" && ext != ".yml")) continue;
    std::ifstream in(it->path());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    for (auto &e : cost_expressions(lines))
      found.emplace_back(it->path().string(), e);
  }
  ASSERT_FALSE(found.empty()) << "no llmRequestCosts CEL or costExpression under " << root;
  bool example = false; // examples/token_ratelimit's expression, so the scan itself is checked
  for (const auto &f : found)
    example |= f.second == "input_tokens == uint(3) ? 100000000 : 0";
  EXPECT_TRUE(example);
  for (const auto &[file, expr] : found) {
    auto p = CelProgram::compile(expr);
    EXPECT_TRUE(p) << file << ": " << expr << ": " << p.error().message;
  }
}

TEST(Cel, UpstreamExamplesEvaluateAsDocumented) {
  // examples/token_ratelimit: 100000000 only when the input is 3 tokens.
  const char *ratelimit = "input_tokens == uint(3) ? 100000000 : 0";
  CelVars v;
  v.input_tokens = 3;
  EXPECT_EQ(eval(ratelimit, v), 100000000u);
  v.input_tokens = 4;
  EXPECT_EQ(eval(ratelimit, v), 0u);
  // The filter-config reference's globalLLMRequestCosts and QuotaPolicy's default.
  v.output_tokens = 6;
  v.total_tokens = 10;
  EXPECT_EQ(eval("input_tokens + output_tokens", v), 10u);
  EXPECT_EQ(eval("total_tokens", v), 10u);
}

} // namespace
} // namespace aigw::ratelimit
