// SSE line splitting; see sse.h.
#include "core/sse.h"

namespace aigw::sse {

Field parse_field(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return {line, {}};
  std::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return {line.substr(0, colon), value};
}

void LineSplitter::push_partial(std::string_view bytes) {
  if (partial_.size() + bytes.size() > max_line_) {
    partial_.clear();
    overflow_ = true;
    ++dropped_;
    return;
  }
  partial_.append(bytes);
}

} // namespace aigw::sse
