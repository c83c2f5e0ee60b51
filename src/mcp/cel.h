// The CEL that MCPRoute authorization rules are written in, over dynamic values (the request, its
// headers, the verified JWT's claims and scopes, the MCP method, backend, tool and params), as
// upstream evaluates it with cel-go:
//   literals (int, uint `1u`, double, 'string' / "string", bool, null), lists, maps;
//   member access `a.b`, index `a[k]`; ! - * / % + - < <= > >= == != in && || ?:;
//   size(), has(a.b), startsWith, endsWith, contains, matches (ECMAScript regex), int(), string(),
//   double(), exists(v, p), all(v, p).
// && and || absorb an error on the side they do not need, as CEL does. Thread-safety: a compiled
// program is immutable. Bounded: source length, nesting depth, no exceptions out.
#pragma once

#include "core/result.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::mcp::cel {

struct Value;
using List = std::vector<Value>;
using Map = std::map<std::string, Value, std::less<>>;

struct Value {
  enum class Kind { kNull, kBool, kInt, kUint, kDouble, kString, kList, kMap, kError };
  Kind kind = Kind::kNull;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  std::string s; // kString; kError: the message
  std::shared_ptr<const List> list;
  std::shared_ptr<const Map> map;

  static Value boolean(bool v) {
    Value x;
    x.kind = Kind::kBool;
    x.b = v;
    return x;
  }
  static Value integer(int64_t v) {
    Value x;
    x.kind = Kind::kInt;
    x.i = v;
    return x;
  }
  static Value string(std::string v) {
    Value x;
    x.kind = Kind::kString;
    x.s = std::move(v);
    return x;
  }
  static Value error(std::string why) {
    Value x;
    x.kind = Kind::kError;
    x.s = std::move(why);
    return x;
  }
  static Value of_list(List l) {
    Value x;
    x.kind = Kind::kList;
    x.list = std::make_shared<const List>(std::move(l));
    return x;
  }
  static Value of_map(Map m) {
    Value x;
    x.kind = Kind::kMap;
    x.map = std::make_shared<const Map>(std::move(m));
    return x;
  }
};

// A JSON document as a CEL value (numbers are doubles, as cel-go reads JSON).
Value from_json(std::string_view json);

class Program {
public:
  static constexpr size_t kMaxSource = 4096;
  // Parses; errors read "cel: column N: message".
  static Result<Program> compile(std::string_view source);
  // Evaluates with `request` bound to `root`.
  Value evaluate(const Value &root) const;

  struct Node;

private:
  std::shared_ptr<const std::vector<Node>> nodes_;
  uint32_t root_ = 0;
};

} // namespace aigw::mcp::cel
