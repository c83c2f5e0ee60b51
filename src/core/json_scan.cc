// Implementation of the span scanner; see json_scan.h.
#include "core/json_scan.h"

namespace aigw::json {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t skip_space(std::string_view t, size_t i) {
  while (i < t.size() && is_space(t[i]))
    ++i;
  return i;
}

// REQUIRES: t[i] == '"'. Returns the offset one past the closing quote, or npos.
size_t skip_string(std::string_view t, size_t i) {
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\') {
      ++i;
      continue;
    }
    if (t[i] == '"') return i + 1;
  }
  return std::string_view::npos;
}

// Returns one past the end of the value starting at i, or npos when malformed.
size_t skip_value(std::string_view t, size_t i) {
  if (i >= t.size()) return std::string_view::npos;
  char c = t[i];
  if (c == '"') return skip_string(t, i);
  if (c == '{' || c == '[') {
    size_t depth = 0;
    while (i < t.size()) {
      char d = t[i];
      if (d == '"') {
        i = skip_string(t, i);
        if (i == std::string_view::npos) return i;
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (depth == 0) return std::string_view::npos;
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return std::string_view::npos;
  }
  size_t start = i;
  while (i < t.size() && !is_space(t[i]) && t[i] != ',' && t[i] != '}' && t[i] != ']')
    ++i;
  return i == start ? std::string_view::npos : i;
}

} // namespace

bool Member::key_is(std::string_view plain) const {
  if (key.find('\\') == std::string_view::npos) return key == plain;
  return unescape(key) == plain;
}

const Member *ObjectSpans::find(std::string_view key) const {
  // Last occurrence wins, as in most JSON parsers' handling of duplicate keys.
  for (auto it = members.rbegin(); it != members.rend(); ++it)
    if (it->key_is(key)) return &*it;
  return nullptr;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(std::string_view s, size_t at, uint32_t &out) {
  if (at + 4 > s.size()) return false;
  out = 0;
  for (size_t i = 0; i < 4; ++i) {
    int v = hex_value(s[at + i]);
    if (v < 0) return false;
    out = (out << 4) | static_cast<uint32_t>(v);
  }
  return true;
}

void append_utf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}
} // namespace

std::string unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out += raw[i];
      continue;
    }
    char e = raw[++i];
    switch (e) {
    case 'n': out += '\n'; break;
    case 't': out += '\t'; break;
    case 'r': out += '\r'; break;
    case 'b': out += '\b'; break;
    case 'f': out += '\f'; break;
    case 'u': {
      uint32_t cp = 0;
      if (!read_hex4(raw, i + 1, cp)) {
        out += "\\u";
        break;
      }
      i += 4;
      uint32_t lo = 0;
      if (cp >= 0xD800 && cp < 0xDC00 && i + 2 < raw.size() && raw[i + 1] == '\\' &&
          raw[i + 2] == 'u' && read_hex4(raw, i + 3, lo) && lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      }
      append_utf8(out, cp);
      break;
    }
    default: out += e; // \" \\ \/
    }
  }
  return out;
}

std::optional<ObjectSpans> scan_object(std::string_view t, size_t max_members) {
  ObjectSpans out;
  size_t i = skip_space(t, 0);
  if (i >= t.size() || t[i] != '{') return std::nullopt;
  out.open = i;
  i = skip_space(t, i + 1);
  if (i < t.size() && t[i] == '}') {
    out.close = i;
    return out;
  }
  while (i < t.size()) {
    if (t[i] != '"') return std::nullopt;
    Member m;
    m.key_begin = i;
    size_t key_end = skip_string(t, i);
    if (key_end == std::string_view::npos) return std::nullopt;
    m.key = t.substr(i + 1, key_end - i - 2);
    i = skip_space(t, key_end);
    if (i >= t.size() || t[i] != ':') return std::nullopt;
    i = skip_space(t, i + 1);
    m.value_begin = i;
    i = skip_value(t, i);
    if (i == std::string_view::npos) return std::nullopt;
    m.value_end = i;
    if (out.members.size() >= max_members) return std::nullopt;
    out.members.push_back(m);
    i = skip_space(t, i);
    if (i >= t.size()) return std::nullopt;
    if (t[i] == '}') {
      out.close = i;
      return out;
    }
    if (t[i] != ',') return std::nullopt;
    i = skip_space(t, i + 1);
  }
  return std::nullopt;
}

void append_quoted(std::string &out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  // Runs of characters that need no escape are appended whole.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    default:
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_quoted(out, s);
  return out;
}

std::string splice(std::string_view text, size_t begin, size_t end, std::string_view replacement) {
  std::string out;
  out.reserve(text.size() - (end - begin) + replacement.size());
  out.append(text.substr(0, begin));
  out.append(replacement);
  out.append(text.substr(end));
  return out;
}

} // namespace aigw::json
