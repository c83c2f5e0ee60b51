// Fuzz target: compiling any CEL cost expression must never crash, and a program that compiles
// must evaluate (to a value or an error) under any variables, deterministically.
#include "ratelimit/cel.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view source(reinterpret_cast<const char *>(data), size);
  auto program = aigw::ratelimit::CelProgram::compile(source);
  if (!program) {
    if (program.error().message.rfind("cel: ", 0) != 0) std::abort();
    return 0;
  }
  aigw::ratelimit::CelVars zero;
  if (!program->evaluate(zero)) std::abort(); // compile already evaluated it with zeros

  aigw::ratelimit::CelVars small{
      "gpt-4o", "default/openai/route/r/rule/0/ref/0", "default/r", 3, 1, 0, 7, 10, 2};
  aigw::ratelimit::CelVars huge{source,     "",         source, UINT64_MAX, UINT64_MAX / 2,
                                1ull << 63, UINT64_MAX, 0,      1};
  for (const auto *vars : {&small, &huge}) {
    auto a = program->evaluate(*vars);
    auto b = program->evaluate(*vars);
    if (a.ok() != b.ok() || (a.ok() && *a != *b)) std::abort();
  }
  return 0;
}
