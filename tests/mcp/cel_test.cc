// The CEL of MCPRoute authorization rules: the operators, functions and macros rules use, error
// absorption by && and ||, and refusals at compile time.
#include "mcp/cel.h"

#include <gtest/gtest.h>

namespace aigw::mcp::cel {
namespace {

Value request() {
  return from_json(R"({
    "method": "POST", "path": "/mcp", "headers": {"x-tenant": "acme"},
    "auth": {"jwt": {"claims": {"sub": "alice", "org": {"role": "admin"}, "groups": ["a", "b"]},
                     "scopes": ["tools", "read"]}},
    "mcp": {"method": "tools/call", "backend": "github", "tool": "create_issue",
            "params": {"arguments": {"repo": "envoy/ai-gateway", "count": 3}}}})");
}

Value eval(const std::string &src) {
  auto p = Program::compile(src);
  EXPECT_TRUE(p) << src << ": " << (p ? "" : p.error().message);
  if (!p) return Value::error("compile");
  return p->evaluate(request());
}

void expect_true(const std::string &src) {
  Value v = eval(src);
  EXPECT_EQ(v.kind, Value::Kind::kBool) << src << " → " << v.s;
  EXPECT_TRUE(v.b) << src;
}

TEST(McpCel, WhatRulesAreWrittenWith) {
  expect_true("request.mcp.tool == 'create_issue'");
  expect_true("request.mcp.backend == \"github\" && request.mcp.method == 'tools/call'");
  expect_true("request.auth.jwt.claims.org.role == 'admin'");
  expect_true("'tools' in request.auth.jwt.scopes");
  expect_true("!('admin' in request.auth.jwt.scopes)");
  expect_true("request.auth.jwt.claims.groups.exists(g, g == 'b')");
  expect_true("request.auth.jwt.claims.groups.all(g, size(g) == 1)");
  expect_true("request.mcp.params.arguments.count < 10 && request.mcp.params.arguments.count >= 3");
  expect_true("request.mcp.params.arguments.repo.startsWith('envoy/')");
  expect_true("request.mcp.params.arguments.repo.matches('^envoy/[a-z-]+$')");
  expect_true("request.headers['x-tenant'] == 'acme'");
  expect_true("has(request.auth.jwt.claims.sub) && !has(request.auth.jwt.claims.email)");
  expect_true("request.mcp.tool.endsWith('_issue') ? true : false");
  expect_true("size(request.auth.jwt.scopes) == 2 && request.auth.jwt.scopes.size() == 2");
  expect_true("1 + 2 * 3 == 7 && 7 / 2 == 3 && 7 % 2 == 1 && -1 < 0");
  expect_true("[1, 2] + [3] == [1, 2, 3] && {'a': 1}['a'] == 1 && 'a' + 'b' == 'ab'");
  expect_true("int('42') == 42 && string(42) == '42' && 3u == 3");
}

TEST(McpCel, ErrorsAreValuesAndAbsorbedWhereCelAbsorbsThem) {
  EXPECT_EQ(eval("request.auth.jwt.claims.email == 'x'").kind, Value::Kind::kError);
  EXPECT_EQ(eval("1 / 0 == 1").kind, Value::Kind::kError);
  // false && error is false; true || error is true (either order)
  EXPECT_FALSE(eval("request.auth.jwt.claims.email == 'x' && false").b);
  EXPECT_TRUE(eval("true || request.nothing.here").b);
  EXPECT_EQ(eval("'a' < 1").kind, Value::Kind::kError);
  EXPECT_EQ(eval("unknown_name").kind, Value::Kind::kError);
  // no trap and no undefined cast on what a client can make
  EXPECT_EQ(eval("int('-9223372036854775808') / -1 == 1").kind, Value::Kind::kError);
  EXPECT_EQ(eval("int('-9223372036854775808') % -1 == 1").kind, Value::Kind::kError);
  EXPECT_EQ(eval("int(1e300) == 1").kind, Value::Kind::kError);
  auto p = Program::compile("request.h.matches('a+')");
  ASSERT_TRUE(p);
  Value long_input = from_json("{\"h\":\"" + std::string(5000, 'a') + "\"}");
  EXPECT_EQ(p->evaluate(long_input).kind, Value::Kind::kError); // bounded, never recursed over
}

TEST(McpCel, CompileRefusalsSayWhere) {
  auto p = Program::compile("request.mcp.tool ==");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("cel: column"), std::string::npos) << p.error().message;
  EXPECT_FALSE(Program::compile("request.mcp.tool == 'x' )"));
  EXPECT_FALSE(Program::compile("'unterminated"));
  EXPECT_FALSE(Program::compile(std::string(5000, 'a')));
  EXPECT_FALSE(Program::compile(std::string(200, '(') + "1" + std::string(200, ')')));
}

} // namespace
} // namespace aigw::mcp::cel
