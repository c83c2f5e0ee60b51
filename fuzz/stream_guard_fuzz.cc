// Fuzz target: the stream guard and the continuation filter, fed a provider-chosen stream. The
// guard's verdict and gathered text do not depend on how the stream is split; the continuation
// filter's output does not either, and it is always a suffix of its input (whole events dropped
// from the front, nothing added or reordered).
#include "pipeline/stream_guard.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t step = 1 + data[0] % 17;
  std::string_view in(reinterpret_cast<const char *>(data + 1), size - 1);
  using aigw::pipeline::StreamGuard;
  StreamGuard whole, split;
  whole.collect_text();
  split.collect_text();
  whole.feed(in);
  for (size_t i = 0; i < in.size(); i += step)
    split.feed(in.substr(i, step));
  whole.on_end();
  split.on_end();
  if (whole.state() != split.state() || whole.text() != split.text() ||
      whole.non_text() != split.non_text())
    std::abort();

  aigw::pipeline::ContinuationFilter cw, cs;
  std::string a, b;
  cw.feed(in, true, a);
  for (size_t i = 0; i < in.size(); i += step)
    cs.feed(in.substr(i, step), i + step >= in.size(), b);
  if (in.empty()) cs.feed("", true, b);
  if (in.size() < StreamGuard::kMaxHeld && a != b) std::abort();
  if (a.size() > in.size() || in.substr(in.size() - a.size()) != a) std::abort();
  return 0;
}
