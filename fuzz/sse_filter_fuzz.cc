// Fuzz target: the usage-chunk filter. Whatever the stream and however it is split, the output is
// the same, and it is the input with whole events removed (never bytes added or reordered).
#include "pipeline/sse_filter.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t step = 1 + data[0] % 13;
  std::string_view in(reinterpret_cast<const char *>(data + 1), size - 1);
  aigw::pipeline::UsageChunkFilter whole, split;
  std::string a, b;
  whole.feed(in, true, a);
  for (size_t i = 0; i < in.size(); i += step)
    split.feed(in.substr(i, step), i + step >= in.size(), b);
  if (in.empty()) split.feed("", true, b);
  if (a != b) std::abort();
  // The output is a subsequence of the input.
  size_t j = 0;
  for (char c : a) {
    while (j < in.size() && in[j] != c)
      ++j;
    if (j == in.size()) std::abort();
    ++j;
  }
  return 0;
}
