// CEL over dynamic values; see cel.h.
#include "mcp/cel.h"

#include <simdjson.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <regex>

namespace aigw::mcp::cel {

struct Program::Node {
  enum class Op {
    kLit,
    kIdent,
    kMember,
    kIndex,
    kCall,
    kMethod,
    kList,
    kMap,
    kNot,
    kNeg,
    kBin,
    kAnd,
    kOr,
    kCond,
    kHas,
    kExists,
    kAll,
  };
  Op op = Op::kLit;
  Value lit;
  std::string name; // identifier, field, function or method name, binary operator, bound variable
  std::vector<uint32_t> args;
};

namespace {

using Node = Program::Node;
using Op = Node::Op;
using Kind = Value::Kind;
constexpr int kMaxDepth = 48;

struct Parser {
  std::string_view src;
  size_t pos = 0;
  int depth = 0;
  std::vector<Node> nodes;
  std::string error;

  uint32_t add(Node n) {
    nodes.push_back(std::move(n));
    return static_cast<uint32_t>(nodes.size() - 1);
  }
  bool fail(std::string why) {
    if (error.empty()) error = "cel: column " + std::to_string(pos + 1) + ": " + why;
    return false;
  }
  void skip() {
    while (pos < src.size() && std::isspace(static_cast<unsigned char>(src[pos])))
      ++pos;
  }
  bool eat(std::string_view t) {
    skip();
    if (src.substr(pos, t.size()) != t) return false;
    // a keyword or identifier-like operator must not run into more identifier characters
    if (std::isalpha(static_cast<unsigned char>(t.back())) && pos + t.size() < src.size() &&
        (std::isalnum(static_cast<unsigned char>(src[pos + t.size()])) ||
         src[pos + t.size()] == '_'))
      return false;
    pos += t.size();
    return true;
  }

  bool expr(uint32_t &out) {
    if (++depth > kMaxDepth) return fail("expression nested too deeply");
    uint32_t c;
    if (!or_expr(c)) return false;
    if (eat("?")) {
      uint32_t a, b;
      if (!expr(a) || !(eat(":") || fail("expected ':'")) || !expr(b)) return false;
      c = add({Op::kCond, {}, {}, {c, a, b}});
    }
    --depth;
    out = c;
    return true;
  }
  bool or_expr(uint32_t &out) {
    if (!and_expr(out)) return false;
    while (eat("||")) {
      uint32_t r;
      if (!and_expr(r)) return false;
      out = add({Op::kOr, {}, {}, {out, r}});
    }
    return true;
  }
  bool and_expr(uint32_t &out) {
    if (!relation(out)) return false;
    while (eat("&&")) {
      uint32_t r;
      if (!relation(r)) return false;
      out = add({Op::kAnd, {}, {}, {out, r}});
    }
    return true;
  }
  bool relation(uint32_t &out) {
    if (!additive(out)) return false;
    for (;;) {
      std::string op;
      for (std::string_view t : {"==", "!=", "<=", ">=", "<", ">", "in"})
        if (eat(t)) {
          op = t;
          break;
        }
      if (op.empty()) return true;
      uint32_t r;
      if (!additive(r)) return false;
      out = add({Op::kBin, {}, op, {out, r}});
    }
  }
  bool additive(uint32_t &out) {
    if (!multiplicative(out)) return false;
    for (;;) {
      skip();
      if (pos >= src.size() || (src[pos] != '+' && src[pos] != '-')) return true;
      std::string op(1, src[pos++]);
      uint32_t r;
      if (!multiplicative(r)) return false;
      out = add({Op::kBin, {}, op, {out, r}});
    }
  }
  bool multiplicative(uint32_t &out) {
    if (!unary(out)) return false;
    for (;;) {
      skip();
      if (pos >= src.size() || (src[pos] != '*' && src[pos] != '/' && src[pos] != '%')) return true;
      std::string op(1, src[pos++]);
      uint32_t r;
      if (!unary(r)) return false;
      out = add({Op::kBin, {}, op, {out, r}});
    }
  }
  bool unary(uint32_t &out) {
    if (++depth > kMaxDepth) return fail("expression nested too deeply");
    bool ok;
    if (eat("!")) {
      uint32_t a;
      ok = unary(a);
      out = add({Op::kNot, {}, {}, {a}});
    } else if (eat("-")) {
      uint32_t a;
      ok = unary(a);
      out = add({Op::kNeg, {}, {}, {a}});
    } else {
      ok = postfix(out);
    }
    --depth;
    return ok;
  }
  bool args(std::vector<uint32_t> &into, char close) {
    skip();
    if (pos < src.size() && src[pos] == close) {
      ++pos;
      return true;
    }
    for (;;) {
      uint32_t a;
      if (!expr(a)) return false;
      into.push_back(a);
      if (eat(",")) continue;
      if (eat(std::string_view(&close, 1))) return true;
      return fail(std::string("expected ',' or '") + close + "'");
    }
  }
  bool ident(std::string &name) {
    skip();
    size_t start = pos;
    while (pos < src.size() &&
           (std::isalnum(static_cast<unsigned char>(src[pos])) || src[pos] == '_'))
      ++pos;
    if (start == pos || std::isdigit(static_cast<unsigned char>(src[start])))
      return fail("expected an identifier");
    name = std::string(src.substr(start, pos - start));
    return true;
  }
  bool postfix(uint32_t &out) {
    if (!primary(out)) return false;
    for (;;) {
      if (eat(".")) {
        std::string name;
        if (!ident(name)) return false;
        if (eat("(")) {
          std::vector<uint32_t> a{out};
          if (name == "exists" || name == "all") {
            std::string var;
            if (!ident(var) || !(eat(",") || fail("expected ','"))) return false;
            uint32_t pred;
            if (!expr(pred) || !(eat(")") || fail("expected ')'"))) return false;
            out = add({name == "exists" ? Op::kExists : Op::kAll, {}, var, {out, pred}});
            continue;
          }
          if (!args(a, ')')) return false;
          out = add({Op::kMethod, {}, name, a});
        } else {
          out = add({Op::kMember, {}, name, {out}});
        }
      } else if (eat("[")) {
        uint32_t k;
        if (!expr(k) || !(eat("]") || fail("expected ']'"))) return false;
        out = add({Op::kIndex, {}, {}, {out, k}});
      } else {
        return true;
      }
    }
  }
  bool string_lit(uint32_t &out) {
    char q = src[pos++];
    std::string s;
    while (pos < src.size() && src[pos] != q) {
      char c = src[pos++];
      if (c == '\\' && pos < src.size()) {
        char e = src[pos++];
        s += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      } else {
        s += c;
      }
    }
    if (pos >= src.size()) return fail("unterminated string");
    ++pos;
    out = add({Op::kLit, Value::string(std::move(s)), {}, {}});
    return true;
  }
  bool primary(uint32_t &out) {
    skip();
    if (pos >= src.size()) return fail("unexpected end of expression");
    char c = src[pos];
    if (c == '(') {
      ++pos;
      return expr(out) && (eat(")") || fail("expected ')'"));
    }
    if (c == '[') {
      ++pos;
      Node n{Op::kList, {}, {}, {}};
      if (!args(n.args, ']')) return false;
      out = add(std::move(n));
      return true;
    }
    if (c == '{') {
      ++pos;
      Node n{Op::kMap, {}, {}, {}};
      skip();
      if (pos < src.size() && src[pos] == '}') {
        ++pos;
      } else {
        for (;;) {
          uint32_t k, v;
          if (!expr(k) || !(eat(":") || fail("expected ':'")) || !expr(v)) return false;
          n.args.push_back(k);
          n.args.push_back(v);
          if (eat(",")) continue;
          if (eat("}")) break;
          return fail("expected ',' or '}'");
        }
      }
      out = add(std::move(n));
      return true;
    }
    if (c == '"' || c == '\'') return string_lit(out);
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = pos;
      bool dbl = false;
      while (pos < src.size() && (std::isdigit(static_cast<unsigned char>(src[pos])) ||
                                  src[pos] == '.' || src[pos] == 'e' || src[pos] == 'E')) {
        dbl |= !std::isdigit(static_cast<unsigned char>(src[pos]));
        ++pos;
      }
      std::string text(src.substr(start, pos - start));
      Value v;
      if (dbl) {
        v.kind = Kind::kDouble;
        v.d = std::strtod(text.c_str(), nullptr);
      } else if (pos < src.size() && (src[pos] == 'u' || src[pos] == 'U')) {
        ++pos;
        v.kind = Kind::kUint;
        v.u = std::strtoull(text.c_str(), nullptr, 10);
      } else {
        v.kind = Kind::kInt;
        v.i = std::strtoll(text.c_str(), nullptr, 10);
      }
      out = add({Op::kLit, v, {}, {}});
      return true;
    }
    std::string name;
    if (!ident(name)) return false;
    if (name == "true" || name == "false") {
      out = add({Op::kLit, Value::boolean(name == "true"), {}, {}});
      return true;
    }
    if (name == "null") {
      out = add({Op::kLit, Value{}, {}, {}});
      return true;
    }
    if (eat("(")) {
      if (name == "has") {
        uint32_t a;
        if (!expr(a) || !(eat(")") || fail("expected ')'"))) return false;
        if (nodes[a].op != Op::kMember) return fail("has() needs a field selection");
        out = add({Op::kHas, {}, {}, {a}});
        return true;
      }
      Node n{Op::kCall, {}, name, {}};
      if (!args(n.args, ')')) return false;
      out = add(std::move(n));
      return true;
    }
    out = add({Op::kIdent, {}, name, {}});
    return true;
  }
};

bool is_num(const Value &v) {
  return v.kind == Kind::kInt || v.kind == Kind::kUint || v.kind == Kind::kDouble;
}
double as_double(const Value &v) {
  return v.kind == Kind::kInt    ? static_cast<double>(v.i)
         : v.kind == Kind::kUint ? static_cast<double>(v.u)
                                 : v.d;
}

bool equal(const Value &a, const Value &b) {
  if (is_num(a) && is_num(b)) return as_double(a) == as_double(b);
  if (a.kind != b.kind) return false;
  switch (a.kind) {
  case Kind::kNull: return true;
  case Kind::kBool: return a.b == b.b;
  case Kind::kString: return a.s == b.s;
  case Kind::kList:
    if (a.list->size() != b.list->size()) return false;
    for (size_t i = 0; i < a.list->size(); ++i)
      if (!equal((*a.list)[i], (*b.list)[i])) return false;
    return true;
  case Kind::kMap:
    if (a.map->size() != b.map->size()) return false;
    for (const auto &[k, v] : *a.map) {
      auto it = b.map->find(k);
      if (it == b.map->end() || !equal(v, it->second)) return false;
    }
    return true;
  default: return false;
  }
}

Value from_element(simdjson::dom::element e) {
  using T = simdjson::dom::element_type;
  Value v;
  switch (e.type()) {
  case T::OBJECT: {
    Map m;
    simdjson::dom::object o = e.get_object().value();
    for (auto [k, val] : o)
      m.emplace(std::string(k), from_element(val));
    return Value::of_map(std::move(m));
  }
  case T::ARRAY: {
    List l;
    simdjson::dom::array a = e.get_array().value();
    for (auto x : a)
      l.push_back(from_element(x));
    return Value::of_list(std::move(l));
  }
  case T::STRING: return Value::string(std::string(e.get_string().value()));
  case T::BOOL: return Value::boolean(e.get_bool().value());
  case T::INT64:
    v.kind = Kind::kDouble;
    v.d = static_cast<double>(e.get_int64().value());
    return v;
  case T::UINT64:
    v.kind = Kind::kDouble;
    v.d = static_cast<double>(e.get_uint64().value());
    return v;
  case T::DOUBLE:
    v.kind = Kind::kDouble;
    v.d = e.get_double().value();
    return v;
  default: return v;
  }
}

struct Eval {
  const std::vector<Node> &nodes;
  const Value &root;
  std::vector<std::pair<std::string, Value>> scope; // comprehension variables

  Value run(uint32_t i) {
    const Node &n = nodes[i];
    switch (n.op) {
    case Op::kLit: return n.lit;
    case Op::kIdent:
      for (auto it = scope.rbegin(); it != scope.rend(); ++it)
        if (it->first == n.name) return it->second;
      if (n.name == "request") return root;
      return Value::error("undeclared reference to '" + n.name + "'");
    case Op::kMember: {
      Value o = run(n.args[0]);
      if (o.kind == Kind::kError) return o;
      if (o.kind != Kind::kMap) return Value::error("no such key: " + n.name);
      auto it = o.map->find(n.name);
      if (it == o.map->end()) return Value::error("no such key: " + n.name);
      return it->second;
    }
    case Op::kHas: {
      const Node &m = nodes[n.args[0]];
      Value o = run(m.args[0]);
      if (o.kind == Kind::kError) return o;
      return Value::boolean(o.kind == Kind::kMap && o.map->count(m.name));
    }
    case Op::kIndex: {
      Value o = run(n.args[0]), k = run(n.args[1]);
      if (o.kind == Kind::kError) return o;
      if (k.kind == Kind::kError) return k;
      if (o.kind == Kind::kMap && k.kind == Kind::kString) {
        auto it = o.map->find(k.s);
        return it == o.map->end() ? Value::error("no such key: " + k.s) : it->second;
      }
      if (o.kind == Kind::kList && is_num(k)) {
        double d = as_double(k);
        if (d < 0 || d >= static_cast<double>(o.list->size()) || d != std::floor(d))
          return Value::error("index out of range");
        return (*o.list)[static_cast<size_t>(d)];
      }
      return Value::error("no such overload for index");
    }
    case Op::kList: {
      List l;
      for (auto a : n.args) {
        Value v = run(a);
        if (v.kind == Kind::kError) return v;
        l.push_back(std::move(v));
      }
      return Value::of_list(std::move(l));
    }
    case Op::kMap: {
      Map m;
      for (size_t j = 0; j + 1 < n.args.size(); j += 2) {
        Value k = run(n.args[j]), v = run(n.args[j + 1]);
        if (k.kind == Kind::kError) return k;
        if (v.kind == Kind::kError) return v;
        if (k.kind != Kind::kString) return Value::error("map keys must be strings");
        m[k.s] = std::move(v);
      }
      return Value::of_map(std::move(m));
    }
    case Op::kNot: {
      Value v = run(n.args[0]);
      if (v.kind != Kind::kBool)
        return v.kind == Kind::kError ? v : Value::error("no such overload for !");
      return Value::boolean(!v.b);
    }
    case Op::kNeg: {
      Value v = run(n.args[0]);
      if (v.kind == Kind::kInt) return Value::integer(-v.i);
      if (v.kind == Kind::kDouble) {
        v.d = -v.d;
        return v;
      }
      return v.kind == Kind::kError ? v : Value::error("no such overload for -");
    }
    case Op::kAnd:
    case Op::kOr: {
      bool is_and = n.op == Op::kAnd;
      Value a = run(n.args[0]);
      if (a.kind == Kind::kBool && a.b != is_and) return a; // false && x, true || x
      Value b = run(n.args[1]);
      if (b.kind == Kind::kBool && b.b != is_and) return b; // the error on the other side absorbed
      if (a.kind == Kind::kError) return a;
      if (b.kind == Kind::kError) return b;
      if (a.kind != Kind::kBool || b.kind != Kind::kBool)
        return Value::error("no such overload for logic");
      return Value::boolean(is_and ? (a.b && b.b) : (a.b || b.b));
    }
    case Op::kCond: {
      Value c = run(n.args[0]);
      if (c.kind != Kind::kBool)
        return c.kind == Kind::kError ? c : Value::error("condition is not a bool");
      return run(n.args[c.b ? 1 : 2]);
    }
    case Op::kBin: return binary(n.name, run(n.args[0]), run(n.args[1]));
    case Op::kExists:
    case Op::kAll: {
      Value target = run(n.args[0]);
      if (target.kind == Kind::kError) return target;
      List items;
      if (target.kind == Kind::kList)
        items = *target.list;
      else if (target.kind == Kind::kMap)
        for (const auto &[k, v] : *target.map)
          items.push_back(Value::string(k));
      else
        return Value::error("no such overload for " +
                            std::string(n.op == Op::kAll ? "all" : "exists"));
      bool all = n.op == Op::kAll;
      std::optional<Value> err;
      for (const auto &item : items) {
        scope.emplace_back(n.name, item);
        Value r = run(n.args[1]);
        scope.pop_back();
        if (r.kind == Kind::kBool) {
          if (r.b != all) return Value::boolean(!all);
        } else {
          err = r.kind == Kind::kError ? r : Value::error("predicate is not a bool");
        }
      }
      if (err) return *err;
      return Value::boolean(all);
    }
    case Op::kCall:
    case Op::kMethod: return call(n);
    }
    return Value::error("unknown expression");
  }

  Value binary(const std::string &op, const Value &a, const Value &b) {
    if (a.kind == Kind::kError) return a;
    if (b.kind == Kind::kError) return b;
    if (op == "==") return Value::boolean(equal(a, b));
    if (op == "!=") return Value::boolean(!equal(a, b));
    if (op == "in") {
      if (b.kind == Kind::kList) {
        for (const auto &x : *b.list)
          if (equal(a, x)) return Value::boolean(true);
        return Value::boolean(false);
      }
      if (b.kind == Kind::kMap && a.kind == Kind::kString)
        return Value::boolean(b.map->count(a.s) > 0);
      return Value::error("no such overload for in");
    }
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      int c;
      if (is_num(a) && is_num(b)) {
        double x = as_double(a), y = as_double(b);
        c = x < y ? -1 : x > y ? 1 : 0;
      } else if (a.kind == Kind::kString && b.kind == Kind::kString) {
        c = a.s.compare(b.s);
        c = c < 0 ? -1 : c > 0 ? 1 : 0;
      } else {
        return Value::error("no such overload for " + op);
      }
      bool r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
      return Value::boolean(r);
    }
    if (op == "+" && a.kind == Kind::kString && b.kind == Kind::kString)
      return Value::string(a.s + b.s);
    if (op == "+" && a.kind == Kind::kList && b.kind == Kind::kList) {
      List l = *a.list;
      l.insert(l.end(), b.list->begin(), b.list->end());
      return Value::of_list(std::move(l));
    }
    if (a.kind == Kind::kInt && b.kind == Kind::kInt) {
      int64_t x = a.i, y = b.i, r = 0;
      if (op == "+" && __builtin_add_overflow(x, y, &r)) return Value::error("integer overflow");
      if (op == "-" && __builtin_sub_overflow(x, y, &r)) return Value::error("integer overflow");
      if (op == "*" && __builtin_mul_overflow(x, y, &r)) return Value::error("integer overflow");
      if ((op == "/" || op == "%") && y == 0) return Value::error("division by zero");
      if ((op == "/" || op == "%") && y == -1 && x == INT64_MIN)
        return Value::error("integer overflow");
      if (op == "/") r = x / y;
      if (op == "%") r = x % y;
      return Value::integer(r);
    }
    if (is_num(a) && is_num(b)) {
      double x = as_double(a), y = as_double(b);
      Value v;
      v.kind = Kind::kDouble;
      v.d = op == "+"   ? x + y
            : op == "-" ? x - y
            : op == "*" ? x * y
            : op == "/" ? x / y
                        : std::fmod(x, y);
      return v;
    }
    return Value::error("no such overload for " + op);
  }

  Value call(const Node &n) {
    std::vector<Value> a;
    for (auto x : n.args) {
      a.push_back(run(x));
      if (a.back().kind == Kind::kError) return a.back();
    }
    const std::string &f = n.name;
    if (f == "size" && a.size() == 1) {
      const Value &v = a[0];
      if (v.kind == Kind::kString) return Value::integer(static_cast<int64_t>(v.s.size()));
      if (v.kind == Kind::kList) return Value::integer(static_cast<int64_t>(v.list->size()));
      if (v.kind == Kind::kMap) return Value::integer(static_cast<int64_t>(v.map->size()));
    }
    if (a.size() == 2 && a[0].kind == Kind::kString && a[1].kind == Kind::kString) {
      const std::string &s = a[0].s, &t = a[1].s;
      if (f == "startsWith") return Value::boolean(s.rfind(t, 0) == 0);
      if (f == "endsWith")
        return Value::boolean(s.size() >= t.size() &&
                              s.compare(s.size() - t.size(), t.size(), t) == 0);
      if (f == "contains") return Value::boolean(s.find(t) != std::string::npos);
      if (f == "matches") {
        // std::regex recurses per character: bounded input
        if (s.size() > 4096 || t.size() > 1024) return Value::error("matches: input too long");
        try {
          return Value::boolean(std::regex_search(s, std::regex(t, std::regex::ECMAScript)));
        } catch (const std::regex_error &) {
          return Value::error("invalid regular expression");
        }
      }
    }
    if (f == "string" && a.size() == 1) {
      const Value &v = a[0];
      if (v.kind == Kind::kString) return v;
      if (v.kind == Kind::kInt) return Value::string(std::to_string(v.i));
      if (v.kind == Kind::kUint) return Value::string(std::to_string(v.u));
      if (v.kind == Kind::kBool) return Value::string(v.b ? "true" : "false");
      if (v.kind == Kind::kDouble) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v.d);
        return Value::string(buf);
      }
    }
    if (f == "int" && a.size() == 1) {
      if (a[0].kind == Kind::kInt) return a[0];
      if (is_num(a[0])) {
        double d = as_double(a[0]);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
          return Value::error("int() out of range");
        return Value::integer(static_cast<int64_t>(d));
      }
      if (a[0].kind == Kind::kString) {
        char *end = nullptr;
        long long v = std::strtoll(a[0].s.c_str(), &end, 10);
        if (end && *end == '\0' && !a[0].s.empty()) return Value::integer(v);
      }
    }
    if (f == "double" && a.size() == 1 && is_num(a[0])) {
      Value v;
      v.kind = Kind::kDouble;
      v.d = as_double(a[0]);
      return v;
    }
    return Value::error("no such overload for " + f + "()");
  }
};

} // namespace

Value from_json(std::string_view json) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(json.data(), json.size()).get(e)) return Value::error("invalid JSON");
  return from_element(e);
}

Result<Program> Program::compile(std::string_view source) {
  if (source.size() > kMaxSource)
    return Error::config("cel: longer than " + std::to_string(kMaxSource) + " characters");
  Parser p;
  p.src = source;
  uint32_t root = 0;
  if (!p.expr(root)) return Error::config(p.error);
  p.skip();
  if (p.pos != source.size()) {
    p.fail("unexpected '" + std::string(source.substr(p.pos, 1)) + "'");
    return Error::config(p.error);
  }
  Program prog;
  prog.nodes_ = std::make_shared<const std::vector<Node>>(std::move(p.nodes));
  prog.root_ = root;
  return prog;
}

Value Program::evaluate(const Value &root) const {
  if (!nodes_) return Value::error("not compiled");
  Eval e{*nodes_, root, {}};
  return e.run(root_);
}

} // namespace aigw::mcp::cel
