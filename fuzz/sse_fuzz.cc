// Fuzz target: the SSE line splitter and usage scanner on arbitrary chunkings of arbitrary bytes.
#include "pipeline/usage.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  size_t step = 1 + data[0] % 64;
  std::string_view text(reinterpret_cast<const char *>(data) + 1, size - 1);
  aigw::pipeline::SseUsageScanner scanner;
  for (size_t i = 0; i < text.size(); i += step)
    scanner.feed(text.substr(i, step));
  return 0;
}
