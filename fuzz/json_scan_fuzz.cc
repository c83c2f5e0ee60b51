// Fuzz target: the JSON span scanner and the surgical editor must never read out of bounds and
// must produce spans inside the input.
#include "core/json_scan.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  auto spans = aigw::json::scan_object(text);
  if (spans) {
    if (spans->close >= size || spans->open > spans->close) std::abort();
    for (const auto &m : spans->members)
      if (m.value_begin > m.value_end || m.value_end > size) std::abort();
  }
  return 0;
}
