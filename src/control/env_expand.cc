// Environment expansion; see env_expand.h.
#include "control/env_expand.h"

#include <cctype>
#include <cstdlib>

namespace aigw::control {

EnvLookup process_env() {
  return [](const std::string &name) -> std::optional<std::string> {
    const char *v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string expand_env(std::string_view text, const EnvLookup &env,
                       std::vector<std::string> *unset) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      size_t close = text.find('}', i + 2);
      std::string_view inner =
          close == std::string_view::npos ? std::string_view() : text.substr(i + 2, close - i - 2);
      size_t name_len = 0;
      while (name_len < inner.size() &&
             (std::isalnum(static_cast<unsigned char>(inner[name_len])) || inner[name_len] == '_'))
        ++name_len;
      bool valid = close != std::string_view::npos && name_len > 0 &&
                   !std::isdigit(static_cast<unsigned char>(inner[0])) &&
                   (name_len == inner.size() || inner.substr(name_len, 2) == ":-");
      if (valid) {
        std::string name(inner.substr(0, name_len));
        auto value = env(name);
        if (value && !value->empty()) {
          out += *value;
        } else if (name_len < inner.size()) {
          out += inner.substr(name_len + 2); // the default
        } else if (!value && unset) {
          unset->push_back(name);
        }
        i = close + 1;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

} // namespace aigw::control
