// CEL cost expressions: a hand-written lexer, a recursive-descent parser into a flat tree, a
// type-check pass and a recursive evaluator bounded by the tree height; see cel.h.
#include "ratelimit/cel.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <utility>

namespace aigw::ratelimit {
namespace {

using Node = CelProgram::Node;
using Op = CelProgram::Op;
using Type = CelProgram::Type;

constexpr uint32_t kFail = std::numeric_limits<uint32_t>::max();
constexpr int kMaxDepth = CelProgram::kMaxDepth;
constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// In CelVars order; the first kFirstUintVar are strings, the rest uints.
constexpr std::string_view kVarNames[] = {"model",
                                          "backend",
                                          "route_name",
                                          "input_tokens",
                                          "cached_input_tokens",
                                          "cache_creation_input_tokens",
                                          "output_tokens",
                                          "total_tokens",
                                          "reasoning_tokens"};
constexpr uint8_t kFirstUintVar = 3;

constexpr std::string_view kReserved[] = {
    "as",  "break", "const",   "continue",  "else",   "for", "function", "if",   "import",
    "let", "loop",  "package", "namespace", "return", "var", "void",     "while"};

// ---------------------------------------------------------------------------------------------
// Error text

// "LINE:COL", both 1-based; columns count code points as cel-go does.
std::string line_col(std::string_view src, size_t pos) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < src.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(src[i]);
    if (c == '\n') {
      ++line;
      col = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

Error error_at(std::string_view src, size_t pos, const std::string &msg) {
  return Error::config("cel: " + line_col(src, pos) + ": " + msg);
}

// Source text safe to quote in a message: short, control bytes escaped.
std::string printable(std::string_view s) {
  constexpr size_t kMax = 32;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

const char *type_name(Type t) {
  switch (t) {
  case Type::kInt: return "int";
  case Type::kUint: return "uint";
  case Type::kBool: return "bool";
  case Type::kString: return "string";
  }
  return "?";
}

// cel-go's operator function names, used in overload errors.
const char *op_function(Op op) {
  switch (op) {
  case Op::kNeg: return "-_";
  case Op::kNot: return "!_";
  case Op::kToInt: return "int";
  case Op::kToUint: return "uint";
  case Op::kAdd: return "_+_";
  case Op::kSub: return "_-_";
  case Op::kMul: return "_*_";
  case Op::kDiv: return "_/_";
  case Op::kMod: return "_%_";
  case Op::kEq: return "_==_";
  case Op::kNe: return "_!=_";
  case Op::kLt: return "_<_";
  case Op::kLe: return "_<=_";
  case Op::kGt: return "_>_";
  case Op::kGe: return "_>=_";
  case Op::kAnd: return "_&&_";
  case Op::kOr: return "_||_";
  case Op::kContains: return "contains";
  case Op::kStartsWith: return "startsWith";
  case Op::kEndsWith: return "endsWith";
  case Op::kCond: return "_?_:_";
  default: return "?";
  }
}

const char *op_symbol(Op op) {
  switch (op) {
  case Op::kNeg: return "unary -";
  case Op::kAdd: return "+";
  case Op::kSub: return "-";
  case Op::kMul: return "*";
  case Op::kDiv: return "/";
  case Op::kMod: return "%";
  default: return op_function(op);
  }
}

// ---------------------------------------------------------------------------------------------
// Lexer

// kOther is [ ] { }: valid CEL this subset does not support, reported by the parser as unexpected.
// clang-format off
enum class Tok : uint8_t {
  kEnd, kInt, kUint, kString, kIdent, kLParen, kRParen, kComma, kDot, kQuestion, kColon,
  kPlus, kMinus, kStar, kSlash, kPercent, kEq, kNe, kLt, kLe, kGt, kGe, kAnd, kOr, kNot, kOther,
};
// clang-format on

struct Token {
  Tok kind = Tok::kEnd;
  uint32_t pos = 0, len = 0;
  uint64_t value = 0; // number literals (int literals unsigned here; the parser range-checks)
  std::string text;   // decoded string literal
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads the number at src[i], advancing i.
std::optional<Error> lex_number(std::string_view src, size_t &i, Token &t) {
  const size_t n = src.size(), start = i;
  uint64_t v = 0;
  bool overflow = false;
  if (src[i] == '0' && i + 1 < n && (src[i + 1] == 'x' || src[i + 1] == 'X')) {
    i += 2;
    const size_t digits = i;
    for (; i < n && hex_value(src[i]) >= 0; ++i) {
      if (v >> 60) overflow = true;
      v = v * 16 + static_cast<uint64_t>(hex_value(src[i]));
    }
    if (i == digits) return error_at(src, start, "invalid hex literal");
  } else {
    for (; i < n && is_digit(src[i]); ++i) {
      uint64_t d = static_cast<uint64_t>(src[i] - '0');
      if (v > (std::numeric_limits<uint64_t>::max() - d) / 10)
        overflow = true;
      else
        v = v * 10 + d;
    }
    bool fraction = i + 1 < n && src[i] == '.' && is_digit(src[i + 1]);
    bool exponent = false;
    if (i < n && (src[i] == 'e' || src[i] == 'E')) {
      size_t j = i + 1;
      if (j < n && (src[j] == '+' || src[j] == '-')) ++j;
      exponent = j < n && is_digit(src[j]);
    }
    if (fraction || exponent) return error_at(src, start, "double literals are not supported");
  }
  t.kind = Tok::kInt;
  if (i < n && (src[i] == 'u' || src[i] == 'U')) {
    t.kind = Tok::kUint;
    ++i;
  }
  if (overflow)
    return error_at(src, start,
                    t.kind == Tok::kUint ? "invalid uint literal" : "invalid int literal");
  t.value = v;
  return std::nullopt;
}

// Reads the quoted string at src[i], advancing i.
std::optional<Error> lex_string(std::string_view src, size_t &i, Token &t) {
  const size_t n = src.size(), start = i;
  const char quote = src[i];
  if (i + 2 < n && src[i + 1] == quote && src[i + 2] == quote)
    return error_at(src, start, "triple-quoted strings are not supported");
  for (++i;; ++i) {
    if (i >= n || src[i] == '\n' || src[i] == '\r')
      return error_at(src, start, "unterminated string literal");
    char c = src[i];
    if (c == quote) {
      ++i;
      break;
    }
    if (c != '\\') {
      t.text.push_back(c);
      continue;
    }
    if (i + 1 >= n) return error_at(src, start, "unterminated string literal");
    char e = src[++i];
    switch (e) {
    case '\\':
    case '\'':
    case '"':
    case '`':
    case '?': t.text.push_back(e); break;
    case 'n': t.text.push_back('\n'); break;
    case 'r': t.text.push_back('\r'); break;
    case 't': t.text.push_back('\t'); break;
    case 'a': t.text.push_back('\a'); break;
    case 'b': t.text.push_back('\b'); break;
    case 'f': t.text.push_back('\f'); break;
    case 'v': t.text.push_back('\v'); break;
    default:
      return error_at(src, i - 1,
                      "unsupported escape sequence '\\" + printable(src.substr(i, 1)) + "'");
    }
  }
  t.kind = Tok::kString;
  return std::nullopt;
}

Result<std::vector<Token>> lex(std::string_view src) {
  std::vector<Token> out;
  const size_t n = src.size();
  size_t i = 0;
  for (;;) {
    while (i < n) {
      char c = src[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++i;
      } else if (c == '/' && i + 1 < n && src[i + 1] == '/') {
        while (i < n && src[i] != '\n')
          ++i;
      } else {
        break;
      }
    }
    Token t;
    t.pos = static_cast<uint32_t>(i);
    if (i >= n) {
      out.push_back(std::move(t));
      return out;
    }
    const char c = src[i], d = i + 1 < n ? src[i + 1] : '\0';
    std::optional<Error> err;
    auto one = [&](Tok k) { t.kind = k, i += 1; };
    auto two = [&](Tok k) { t.kind = k, i += 2; };
    if (is_digit(c)) {
      err = lex_number(src, i, t);
    } else if (c == '.' && is_digit(d)) {
      err = error_at(src, i, "double literals are not supported");
    } else if (is_ident_start(c)) {
      while (i < n && (is_ident_start(src[i]) || is_digit(src[i])))
        ++i;
      std::string_view word = src.substr(t.pos, i - t.pos);
      bool prefix = word.size() <= 2 && word.find_first_not_of("rRbB") == std::string_view::npos;
      if (prefix && i < n && (src[i] == '\'' || src[i] == '"'))
        err = error_at(src, t.pos, "raw and bytes string literals are not supported");
      t.kind = Tok::kIdent;
    } else if (c == '\'' || c == '"') {
      err = lex_string(src, i, t);
    } else {
      switch (c) {
      case '(': one(Tok::kLParen); break;
      case ')': one(Tok::kRParen); break;
      case ',': one(Tok::kComma); break;
      case '.': one(Tok::kDot); break;
      case '?': one(Tok::kQuestion); break;
      case ':': one(Tok::kColon); break;
      case '+': one(Tok::kPlus); break;
      case '-': one(Tok::kMinus); break;
      case '*': one(Tok::kStar); break;
      case '/': one(Tok::kSlash); break;
      case '%': one(Tok::kPercent); break;
      case '[':
      case ']':
      case '{':
      case '}': one(Tok::kOther); break;
      case '!': d == '=' ? two(Tok::kNe) : one(Tok::kNot); break;
      case '<': d == '=' ? two(Tok::kLe) : one(Tok::kLt); break;
      case '>': d == '=' ? two(Tok::kGe) : one(Tok::kGt); break;
      case '=':
      case '&':
      case '|':
        if (d == c) {
          two(c == '=' ? Tok::kEq : c == '&' ? Tok::kAnd : Tok::kOr);
          break;
        }
        [[fallthrough]];
      default: err = error_at(src, i, "unexpected character '" + printable(src.substr(i, 1)) + "'");
      }
    }
    if (err) return *err;
    t.len = static_cast<uint32_t>(i - t.pos);
    out.push_back(std::move(t));
  }
}

// ---------------------------------------------------------------------------------------------
// Parser (CEL grammar, restricted):
//   expr     = or ['?' or ':' expr]
//   or       = and {'||' and};  and = rel {'&&' rel};  rel = add {relop add}
//   add      = mul {('+'|'-') mul};  mul = unary {('*'|'/'|'%') unary}
//   unary    = '!'+ member | '-'+ member | member      (pairs cancel, as in cel-go)
//   member   = primary {'.' IDENT '(' expr ')'}
//   primary  = INT | UINT | STRING | true | false | IDENT | IDENT '(' expr ')' | '(' expr ')'

int precedence(Tok k) {
  switch (k) {
  case Tok::kOr: return 1;
  case Tok::kAnd: return 2;
  case Tok::kEq:
  case Tok::kNe:
  case Tok::kLt:
  case Tok::kLe:
  case Tok::kGt:
  case Tok::kGe: return 3;
  case Tok::kPlus:
  case Tok::kMinus: return 4;
  case Tok::kStar:
  case Tok::kSlash:
  case Tok::kPercent: return 5;
  default: return 0;
  }
}

Op binary_op(Tok k) {
  switch (k) {
  case Tok::kOr: return Op::kOr;
  case Tok::kAnd: return Op::kAnd;
  case Tok::kEq: return Op::kEq;
  case Tok::kNe: return Op::kNe;
  case Tok::kLt: return Op::kLt;
  case Tok::kLe: return Op::kLe;
  case Tok::kGt: return Op::kGt;
  case Tok::kGe: return Op::kGe;
  case Tok::kPlus: return Op::kAdd;
  case Tok::kMinus: return Op::kSub;
  case Tok::kStar: return Op::kMul;
  case Tok::kSlash: return Op::kDiv;
  default: return Op::kMod;
  }
}

class Parser {
public:
  Parser(std::string_view src, std::vector<Token> toks, std::vector<Node> &nodes,
         std::vector<std::string> &strings)
      : src_(src), toks_(std::move(toks)), nodes_(nodes), strings_(strings) {}

  // The root node, or kFail with error() set.
  uint32_t parse() {
    uint32_t root = expr();
    if (root != kFail && peek().kind != Tok::kEnd) return unexpected(peek());
    return root;
  }
  const Error &error() const { return *err_; }

private:
  const Token &peek() const { return toks_[std::min(pos_, toks_.size() - 1)]; }
  std::string_view text(const Token &t) const { return src_.substr(t.pos, t.len); }

  uint32_t fail(size_t pos, const std::string &msg) {
    if (!err_) err_ = error_at(src_, pos, msg);
    return kFail;
  }
  uint32_t unexpected(const Token &t) {
    if (t.kind == Tok::kEnd) return fail(t.pos, "unexpected end of input");
    if (t.kind == Tok::kIdent && text(t) == "in")
      return fail(t.pos, "the 'in' operator is not supported");
    return fail(t.pos, "unexpected token '" + printable(text(t)) + "'");
  }
  bool expect(Tok k) {
    if (peek().kind != k) {
      unexpected(peek());
      return false;
    }
    ++pos_;
    return true;
  }

  uint32_t add(Node n, std::initializer_list<uint32_t> kids) {
    int height = 1;
    for (uint32_t k : kids)
      height = std::max(height, heights_[k] + 1);
    if (height > kMaxDepth)
      return fail(n.pos, "expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
    nodes_.push_back(n);
    heights_.push_back(height);
    return static_cast<uint32_t>(nodes_.size() - 1);
  }
  static Node make(Op op, uint32_t pos, uint32_t a = 0, uint32_t b = 0, uint32_t c = 0) {
    Node n;
    n.op = op;
    n.pos = pos;
    n.a = a;
    n.b = b;
    n.c = c;
    return n;
  }

  uint32_t expr() {
    if (++depth_ > kMaxDepth)
      return fail(peek().pos,
                  "expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
    uint32_t r = conditional();
    --depth_;
    return r;
  }

  uint32_t conditional() {
    uint32_t cond = binary(1);
    if (cond == kFail || peek().kind != Tok::kQuestion) return cond;
    uint32_t q = peek().pos;
    ++pos_;
    uint32_t then = binary(1);
    if (then == kFail || !expect(Tok::kColon)) return kFail;
    uint32_t otherwise = expr();
    if (otherwise == kFail) return kFail;
    return add(make(Op::kCond, q, cond, then, otherwise), {cond, then, otherwise});
  }

  // Precedence climbing; recursion is bounded by the number of precedence levels.
  uint32_t binary(int min_prec) {
    uint32_t lhs = unary();
    while (lhs != kFail) {
      const Token &t = peek();
      int p = precedence(t.kind);
      if (p == 0 || p < min_prec) break;
      ++pos_;
      uint32_t rhs = binary(p + 1);
      if (rhs == kFail) return kFail;
      lhs = add(make(binary_op(t.kind), t.pos, lhs, rhs), {lhs, rhs});
    }
    return lhs;
  }

  uint32_t unary() {
    const Tok k = peek().kind;
    if (k != Tok::kNot && k != Tok::kMinus) return member(false);
    const uint32_t op_pos = peek().pos;
    int count = 0;
    for (; peek().kind == k; ++pos_)
      ++count;
    // `-3` is a negative literal (so -9223372036854775808 is valid), as in cel-go's grammar.
    bool literal = k == Tok::kMinus && peek().kind == Tok::kInt;
    if (literal) --count;
    uint32_t x = member(literal);
    if (x == kFail || count % 2 == 0) return x;
    return add(make(k == Tok::kNot ? Op::kNot : Op::kNeg, op_pos, x), {x});
  }

  uint32_t member(bool negative_literal) {
    uint32_t x = primary(negative_literal);
    while (x != kFail && peek().kind == Tok::kDot) {
      const uint32_t dot = peek().pos;
      ++pos_;
      const Token &name = peek();
      if (name.kind != Tok::kIdent) return unexpected(name);
      ++pos_;
      std::string_view fn = text(name);
      if (peek().kind != Tok::kLParen)
        return fail(dot, "field selection '." + printable(fn) + "' is not supported");
      Op op;
      if (fn == "contains")
        op = Op::kContains;
      else if (fn == "startsWith")
        op = Op::kStartsWith;
      else if (fn == "endsWith")
        op = Op::kEndsWith;
      else
        return fail(name.pos, "undeclared reference to '" + printable(fn) + "'");
      uint32_t arg = call_argument(name);
      if (arg == kFail) return kFail;
      x = add(make(op, name.pos, x, arg), {x, arg});
    }
    return x;
  }

  // `(expr)` after a function name: exactly one argument.
  uint32_t call_argument(const Token &name) {
    ++pos_; // '('
    const std::string msg = "function '" + printable(text(name)) + "' takes one argument";
    if (peek().kind == Tok::kRParen) return fail(name.pos, msg);
    uint32_t arg = expr();
    if (arg == kFail) return kFail;
    if (peek().kind == Tok::kComma) return fail(name.pos, msg);
    return expect(Tok::kRParen) ? arg : kFail;
  }

  uint32_t primary(bool negative_literal) {
    const Token &t = peek();
    switch (t.kind) {
    case Tok::kInt: {
      ++pos_;
      if (t.value > kInt64Max + (negative_literal ? 1 : 0))
        return fail(t.pos, "invalid int literal");
      Node n = make(Op::kIntLit, t.pos);
      n.bits = negative_literal ? 0 - t.value : t.value;
      return add(n, {});
    }
    case Tok::kUint: {
      ++pos_;
      Node n = make(Op::kUintLit, t.pos);
      n.bits = t.value;
      return add(n, {});
    }
    case Tok::kString: {
      ++pos_;
      Node n = make(Op::kStrLit, t.pos);
      n.bits = strings_.size();
      strings_.push_back(t.text);
      return add(n, {});
    }
    case Tok::kLParen: {
      ++pos_;
      uint32_t x = expr();
      if (x == kFail || !expect(Tok::kRParen)) return kFail;
      return x;
    }
    case Tok::kIdent: return identifier(t);
    default: return unexpected(t);
    }
  }

  uint32_t identifier(const Token &t) {
    ++pos_;
    std::string_view name = text(t);
    if (name == "true" || name == "false") {
      Node n = make(Op::kBoolLit, t.pos);
      n.bits = name == "true";
      return add(n, {});
    }
    if (name == "null") return fail(t.pos, "null is not supported");
    if (name == "in") return unexpected(t);
    for (std::string_view r : kReserved)
      if (name == r) return fail(t.pos, "reserved identifier '" + std::string(name) + "'");
    if (peek().kind == Tok::kLParen) {
      if (name != "int" && name != "uint")
        return fail(t.pos, "undeclared reference to '" + printable(name) + "'");
      uint32_t arg = call_argument(t);
      if (arg == kFail) return kFail;
      return add(make(name == "int" ? Op::kToInt : Op::kToUint, t.pos, arg), {arg});
    }
    for (size_t v = 0; v < std::size(kVarNames); ++v) {
      if (name != kVarNames[v]) continue;
      Node n = make(Op::kVar, t.pos);
      n.var = static_cast<uint8_t>(v);
      return add(n, {});
    }
    return fail(t.pos, "undeclared reference to '" + printable(name) + "'");
  }

  std::string_view src_;
  std::vector<Token> toks_;
  std::vector<Node> &nodes_;
  std::vector<std::string> &strings_;
  std::vector<int> heights_; // parallel to nodes_
  size_t pos_ = 0;
  int depth_ = 0;
  std::optional<Error> err_;
};

// ---------------------------------------------------------------------------------------------
// Type check: children precede parents, so one forward pass types every node.

std::optional<Error> type_check(std::string_view src, std::vector<Node> &nodes) {
  for (Node &n : nodes) {
    const Type ta = nodes[n.a].type;
    const Type tb = nodes[n.b].type, tc = nodes[n.c].type;
    auto mismatch = [&](int arity) {
      std::string args;
      if (n.op == Op::kContains || n.op == Op::kStartsWith || n.op == Op::kEndsWith) {
        args = std::string(type_name(ta)) + ".(" + type_name(tb) + ")";
      } else {
        args = "(" + std::string(type_name(ta));
        if (arity > 1) args += std::string(", ") + type_name(tb);
        if (arity > 2) args += std::string(", ") + type_name(tc);
        args += ")";
      }
      std::string msg = std::string("found no matching overload for '") + op_function(n.op) +
                        "' applied to '" + args + "'";
      bool mixed = arity >= 2 && ((ta == Type::kInt && tb == Type::kUint) ||
                                  (ta == Type::kUint && tb == Type::kInt));
      if (n.op == Op::kCond)
        mixed = (tb == Type::kInt && tc == Type::kUint) || (tb == Type::kUint && tc == Type::kInt);
      if (mixed)
        msg += " (int and uint do not mix: convert with uint(...) or int(...), or write a uint "
               "literal such as 1u)";
      return error_at(src, n.pos, msg);
    };
    switch (n.op) {
    case Op::kIntLit: n.type = Type::kInt; break;
    case Op::kUintLit: n.type = Type::kUint; break;
    case Op::kBoolLit: n.type = Type::kBool; break;
    case Op::kStrLit: n.type = Type::kString; break;
    case Op::kVar: n.type = n.var < kFirstUintVar ? Type::kString : Type::kUint; break;
    case Op::kNeg:
      if (ta != Type::kInt) return mismatch(1);
      n.type = Type::kInt;
      break;
    case Op::kNot:
      if (ta != Type::kBool) return mismatch(1);
      n.type = Type::kBool;
      break;
    case Op::kToInt:
    case Op::kToUint:
      if (ta == Type::kBool) return mismatch(1);
      n.type = n.op == Op::kToInt ? Type::kInt : Type::kUint;
      break;
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kMod:
      if (n.op == Op::kAdd && ta == Type::kString && tb == Type::kString)
        return error_at(src, n.pos, "string concatenation is not supported");
      if (ta != tb || (ta != Type::kInt && ta != Type::kUint)) return mismatch(2);
      n.type = ta;
      break;
    case Op::kEq:
    case Op::kNe:
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe:
      if (ta != tb) return mismatch(2);
      n.type = Type::kBool;
      break;
    case Op::kAnd:
    case Op::kOr:
      if (ta != Type::kBool || tb != Type::kBool) return mismatch(2);
      n.type = Type::kBool;
      break;
    case Op::kContains:
    case Op::kStartsWith:
    case Op::kEndsWith:
      if (ta != Type::kString || tb != Type::kString) return mismatch(2);
      n.type = Type::kBool;
      break;
    case Op::kCond:
      if (ta != Type::kBool || tb != tc) return mismatch(3);
      n.type = tb;
      break;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

struct Value {
  Type type = Type::kInt;
  uint64_t bits = 0; // int as two's complement, bool as 0/1
  std::string_view str;
};

Value make_int(int64_t v) { return Value{Type::kInt, static_cast<uint64_t>(v), {}}; }
Value make_uint(uint64_t v) { return Value{Type::kUint, v, {}}; }
Value make_bool(bool v) { return Value{Type::kBool, v ? 1u : 0u, {}}; }

enum class Fail : uint8_t {
  kIntOverflow,
  kUintOverflow,
  kDivZero,
  kModZero,
  kIntRange,
  kUintRange,
  kIntSyntax,
  kUintSyntax
};

struct EvalError {
  Fail kind = Fail::kIntOverflow;
  Op op = Op::kAdd;
  uint64_t detail = 0;
};

std::string describe(const EvalError &e) {
  switch (e.kind) {
  case Fail::kIntOverflow: return std::string("int overflow in '") + op_symbol(e.op) + "'";
  case Fail::kUintOverflow: return std::string("uint overflow in '") + op_symbol(e.op) + "'";
  case Fail::kDivZero: return "division by zero";
  case Fail::kModZero: return "modulus by zero";
  case Fail::kIntRange: return "int() argument out of range (" + std::to_string(e.detail) + "u)";
  case Fail::kUintRange:
    return "uint() argument out of range (" + std::to_string(static_cast<int64_t>(e.detail)) + ")";
  case Fail::kIntSyntax: return "int() argument is not a base-10 integer string";
  case Fail::kUintSyntax: return "uint() argument is not a base-10 unsigned integer string";
  }
  return "error";
}

// Go's strconv.ParseUint/ParseInt(s, 10, 64).
bool parse_uint(std::string_view s, uint64_t &out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool parse_int(std::string_view s, int64_t &out) {
  bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  uint64_t v = 0;
  if (!parse_uint(s, v) || v > kInt64Max + (negative ? 1 : 0)) return false;
  out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

class Evaluator {
public:
  Evaluator(const std::vector<Node> &nodes, const std::vector<std::string> &strings,
            const CelVars &vars)
      : nodes_(nodes), strings_(strings), vars_(vars) {}

  // Recursion depth is bounded by the tree height (kMaxDepth).
  bool eval(uint32_t i, Value &out) {
    const Node &n = nodes_[i];
    switch (n.op) {
    case Op::kIntLit: out = make_int(static_cast<int64_t>(n.bits)); return true;
    case Op::kUintLit: out = make_uint(n.bits); return true;
    case Op::kBoolLit: out = make_bool(n.bits != 0); return true;
    case Op::kStrLit: out = Value{Type::kString, 0, strings_[n.bits]}; return true;
    case Op::kVar: out = variable(n.var); return true;
    case Op::kAnd:
    case Op::kOr: return logical(n, out);
    case Op::kCond: {
      Value c;
      if (!eval(n.a, c)) return false;
      return eval(c.bits ? n.b : n.c, out);
    }
    case Op::kNeg:
    case Op::kNot:
    case Op::kToInt:
    case Op::kToUint: {
      Value x;
      if (!eval(n.a, x)) return false;
      return unary(n.op, x, out);
    }
    default: {
      Value l, r;
      if (!eval(n.a, l) || !eval(n.b, r)) return false;
      return binary(n.op, l, r, out);
    }
    }
  }

  EvalError error;

private:
  bool fail(Fail kind, Op op, uint64_t detail = 0) {
    error = EvalError{kind, op, detail};
    return false;
  }

  Value variable(uint8_t v) const {
    switch (v) {
    case 0: return Value{Type::kString, 0, vars_.model};
    case 1: return Value{Type::kString, 0, vars_.backend};
    case 2: return Value{Type::kString, 0, vars_.route_name};
    case 3: return make_uint(vars_.input_tokens);
    case 4: return make_uint(vars_.cached_input_tokens);
    case 5: return make_uint(vars_.cache_creation_input_tokens);
    case 6: return make_uint(vars_.output_tokens);
    case 7: return make_uint(vars_.total_tokens);
    default: return make_uint(vars_.reasoning_tokens);
    }
  }

  // CEL's commutative logic: a deciding value on either side wins over an error on the other.
  bool logical(const Node &n, Value &out) {
    const uint64_t decisive = n.op == Op::kOr ? 1 : 0;
    Value l, r;
    const bool lok = eval(n.a, l);
    if (lok && l.bits == decisive) return out = make_bool(decisive), true;
    const EvalError lerr = error;
    const bool rok = eval(n.b, r);
    if (rok && r.bits == decisive) return out = make_bool(decisive), true;
    if (!lok) return error = lerr, false;
    if (!rok) return false;
    out = make_bool(!decisive);
    return true;
  }

  bool unary(Op op, const Value &x, Value &out) {
    switch (op) {
    case Op::kNot: out = make_bool(x.bits == 0); return true;
    case Op::kNeg: {
      int64_t v = static_cast<int64_t>(x.bits);
      if (v == std::numeric_limits<int64_t>::min()) return fail(Fail::kIntOverflow, op);
      out = make_int(-v);
      return true;
    }
    case Op::kToInt: {
      if (x.type == Type::kInt) return out = x, true;
      if (x.type == Type::kUint) {
        if (x.bits > kInt64Max) return fail(Fail::kIntRange, op, x.bits);
        return out = make_int(static_cast<int64_t>(x.bits)), true;
      }
      int64_t v = 0;
      if (!parse_int(x.str, v)) return fail(Fail::kIntSyntax, op);
      return out = make_int(v), true;
    }
    default: { // kToUint
      if (x.type == Type::kUint) return out = x, true;
      if (x.type == Type::kInt) {
        if (static_cast<int64_t>(x.bits) < 0) return fail(Fail::kUintRange, op, x.bits);
        return out = make_uint(x.bits), true;
      }
      uint64_t v = 0;
      if (!parse_uint(x.str, v)) return fail(Fail::kUintSyntax, op);
      return out = make_uint(v), true;
    }
    }
  }

  bool binary(Op op, const Value &l, const Value &r, Value &out) {
    switch (op) {
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kMod:
      return l.type == Type::kInt
                 ? int_arith(op, static_cast<int64_t>(l.bits), static_cast<int64_t>(r.bits), out)
                 : uint_arith(op, l.bits, r.bits, out);
    case Op::kContains: out = make_bool(l.str.find(r.str) != std::string_view::npos); return true;
    case Op::kStartsWith: out = make_bool(l.str.starts_with(r.str)); return true;
    case Op::kEndsWith: out = make_bool(l.str.ends_with(r.str)); return true;
    default: break;
    }
    int cmp = 0; // operands have the same type (checked)
    switch (l.type) {
    case Type::kInt: {
      int64_t a = static_cast<int64_t>(l.bits), b = static_cast<int64_t>(r.bits);
      cmp = a < b ? -1 : a > b;
      break;
    }
    case Type::kUint:
    case Type::kBool: cmp = l.bits < r.bits ? -1 : l.bits > r.bits; break;
    case Type::kString: {
      int c = l.str.compare(r.str);
      cmp = c < 0 ? -1 : c > 0;
      break;
    }
    }
    switch (op) {
    case Op::kEq: out = make_bool(cmp == 0); break;
    case Op::kNe: out = make_bool(cmp != 0); break;
    case Op::kLt: out = make_bool(cmp < 0); break;
    case Op::kLe: out = make_bool(cmp <= 0); break;
    case Op::kGt: out = make_bool(cmp > 0); break;
    default: out = make_bool(cmp >= 0); break;
    }
    return true;
  }

  bool int_arith(Op op, int64_t a, int64_t b, Value &out) {
    int64_t z = 0;
    bool overflow = false;
    switch (op) {
    case Op::kAdd: overflow = __builtin_add_overflow(a, b, &z); break;
    case Op::kSub: overflow = __builtin_sub_overflow(a, b, &z); break;
    case Op::kMul: overflow = __builtin_mul_overflow(a, b, &z); break;
    default: // kDiv, kMod
      if (b == 0) return fail(op == Op::kDiv ? Fail::kDivZero : Fail::kModZero, op);
      overflow = a == std::numeric_limits<int64_t>::min() && b == -1;
      if (!overflow) z = op == Op::kDiv ? a / b : a % b;
    }
    if (overflow) return fail(Fail::kIntOverflow, op);
    out = make_int(z);
    return true;
  }

  bool uint_arith(Op op, uint64_t a, uint64_t b, Value &out) {
    uint64_t z = 0;
    bool overflow = false;
    switch (op) {
    case Op::kAdd: overflow = __builtin_add_overflow(a, b, &z); break;
    case Op::kSub: overflow = __builtin_sub_overflow(a, b, &z); break;
    case Op::kMul: overflow = __builtin_mul_overflow(a, b, &z); break;
    default:
      if (b == 0) return fail(op == Op::kDiv ? Fail::kDivZero : Fail::kModZero, op);
      z = op == Op::kDiv ? a / b : a % b;
    }
    if (overflow) return fail(Fail::kUintOverflow, op);
    out = make_uint(z);
    return true;
  }

  const std::vector<Node> &nodes_;
  const std::vector<std::string> &strings_;
  const CelVars &vars_;
};

} // namespace

Result<CelProgram> CelProgram::compile(std::string_view source) {
  if (source.size() > kMaxSourceBytes)
    return Error::config("cel: expression is longer than " + std::to_string(kMaxSourceBytes) +
                         " bytes");
  auto tokens = lex(source);
  if (!tokens) return tokens.error();
  CelProgram p;
  Parser parser(source, std::move(tokens).value(), p.nodes_, p.strings_);
  uint32_t root = parser.parse();
  if (root == kFail) return parser.error();
  p.root_ = root;
  if (auto err = type_check(source, p.nodes_)) return *err;
  Type result = p.nodes_[root].type;
  if (result != Type::kInt && result != Type::kUint)
    return Error::config(std::string("cel: the result must be an int or uint, got ") +
                         type_name(result));
  auto zero = p.evaluate(CelVars{});
  if (!zero) return Error::config(zero.error().message + " (with all variables zero)");
  return p;
}

Result<uint64_t> CelProgram::evaluate(const CelVars &vars) const {
  if (nodes_.empty()) return Error::config("cel: evaluation: empty program");
  Evaluator ev(nodes_, strings_, vars);
  Value v;
  if (!ev.eval(root_, v)) return Error::config("cel: evaluation: " + describe(ev.error));
  if (v.type == Type::kInt && static_cast<int64_t>(v.bits) < 0)
    return Error::config("cel: evaluation: result is negative (" +
                         std::to_string(static_cast<int64_t>(v.bits)) + ")");
  return v.bits;
}

} // namespace aigw::ratelimit
