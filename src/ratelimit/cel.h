// The CEL subset upstream uses for LLM request costs (llmRequestCosts[].cel, QuotaPolicy
// costExpression): integer/uint arithmetic, comparisons, logic and a ternary over token counts and
// the model/backend/route names, typed as cel-go types them (int and uint never mix implicitly).
// Thread-safety: a compiled CelProgram is immutable; evaluate() may run from many threads at once.
// Safe on untrusted input: bounded source length and nesting, no exceptions, errors as values.
#pragma once

#include "core/result.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::ratelimit {

// The variables of upstream's environment (internal/llmcostcel/cel.go): strings and uints.
struct CelVars {
  std::string_view model, backend, route_name;
  uint64_t input_tokens = 0, cached_input_tokens = 0, cache_creation_input_tokens = 0,
           output_tokens = 0, total_tokens = 0, reasoning_tokens = 0;
};

class CelProgram {
public:
  static constexpr size_t kMaxSourceBytes = 4096;
  static constexpr int kMaxDepth = 64; // nesting of parentheses/calls/ternaries and tree height

  // Parses, type-checks (the result must be int or uint) and evaluates once with every variable
  // zero or empty, as upstream does at config load. Errors read `cel: LINE:COL: message`.
  static Result<CelProgram> compile(std::string_view source);

  // The cost. Errors (`cel: evaluation: ...`): int/uint overflow, division or modulus by zero,
  // out-of-range int()/uint() conversion, a negative result. Allocates only on error.
  Result<uint64_t> evaluate(const CelVars &vars) const;

  // Implementation detail: the compiled tree, children before parents, indices not pointers.
  enum class Type : uint8_t { kInt, kUint, kBool, kString };
  // Leaves: kIntLit..kVar. Unary (operand a): kNeg..kToUint. Binary (a, b): kAdd..kOr.
  // Member calls (receiver a, argument b): kContains..kEndsWith. kCond: a ? b : c.
  // clang-format off
  enum class Op : uint8_t {
    kIntLit, kUintLit, kBoolLit, kStrLit, kVar,
    kNeg, kNot, kToInt, kToUint,
    kAdd, kSub, kMul, kDiv, kMod, kEq, kNe, kLt, kLe, kGt, kGe, kAnd, kOr,
    kContains, kStartsWith, kEndsWith,
    kCond,
  };
  // clang-format on
  struct Node {
    Op op = Op::kIntLit;
    Type type = Type::kInt;
    uint8_t var = 0;  // kVar: index into the variables, in CelVars order
    uint32_t pos = 0; // byte offset in the source, for compile-time errors
    uint32_t a = 0, b = 0, c = 0;
    uint64_t bits = 0; // literal value (int as two's complement, bool as 0/1, string index)
  };

private:
  CelProgram() = default;

  std::vector<Node> nodes_;
  std::vector<std::string> strings_; // decoded string literals
  uint32_t root_ = 0;
};

} // namespace aigw::ratelimit
