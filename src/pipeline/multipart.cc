// multipart/form-data; see multipart.h.
#include "pipeline/multipart.h"

#include "core/strings.h"

#include <algorithm>
#include <cctype>

namespace aigw::pipeline {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) { return trim_ows(s); }

// A `key=value` parameter of a header value such as `form-data; name="model"`.
std::optional<std::string_view> header_param(std::string_view value, std::string_view key) {
  size_t pos = value.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = value.substr(pos + 1);
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view k = trim(rest.substr(0, eq));
    std::string_view v = rest.substr(eq + 1);
    size_t next;
    if (!v.empty() && v.front() == '"') {
      size_t close = v.find('"', 1);
      if (close == std::string_view::npos) return std::nullopt;
      next = v.find(';', close);
      v = v.substr(1, close - 1);
    } else {
      next = v.find(';');
      v = trim(v.substr(0, next));
    }
    if (iequals(k, key)) return v;
    if (next == std::string_view::npos) return std::nullopt;
    pos = pos + 1 + eq + 1 + next;
  }
  return std::nullopt;
}

} // namespace

bool is_multipart_form(std::string_view content_type) {
  std::string_view media = trim(content_type.substr(0, content_type.find(';')));
  return iequals(media, "multipart/form-data");
}

std::optional<std::string_view> multipart_boundary(std::string_view content_type) {
  auto b = header_param(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  return b;
}

Result<std::vector<MultipartPart>> parse_multipart(std::string_view body, std::string_view boundary,
                                                   size_t max_parts) {
  auto bad = [](std::string_view why) { return Error::client(400, std::string(why)); };
  std::string delim = "--" + std::string(boundary);
  std::vector<MultipartPart> parts;
  // The first delimiter may follow a preamble; each later one is preceded by CRLF.
  size_t pos = 0;
  if (!body.starts_with(delim)) {
    size_t first = body.find("\r\n" + delim);
    if (first == std::string_view::npos) return bad("no opening boundary");
    pos = first + 2;
  }
  std::string next_delim = "\r\n" + delim;
  for (;;) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") return parts; // the closing delimiter
    // Transport padding, then CRLF.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t'))
      ++pos;
    if (body.substr(pos, 2) != "\r\n") return bad("a boundary line is not followed by CRLF");
    pos += 2;
    size_t headers_end = body.find("\r\n\r\n", pos);
    // A part with no headers at all starts right at the blank line.
    bool no_headers = body.substr(pos, 2) == "\r\n";
    if (!no_headers && headers_end == std::string_view::npos) return bad("a part has no headers");
    MultipartPart part;
    std::string_view headers =
        no_headers ? std::string_view() : body.substr(pos, headers_end - pos);
    size_t line_start = 0;
    while (line_start <= headers.size()) {
      size_t eol = headers.find("\r\n", line_start);
      std::string_view line = headers.substr(
          line_start, eol == std::string_view::npos ? std::string_view::npos : eol - line_start);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos &&
          iequals(trim(line.substr(0, colon)), "content-disposition")) {
        std::string_view v = line.substr(colon + 1);
        part.name = header_param(v, "name").value_or("");
        part.filename = header_param(v, "filename").value_or("");
      }
      if (eol == std::string_view::npos) break;
      line_start = eol + 2;
    }
    part.value_begin = no_headers ? pos + 2 : headers_end + 4;
    size_t end = body.find(next_delim, part.value_begin);
    if (end == std::string_view::npos) return bad("no closing boundary");
    part.value_end = end;
    if (parts.size() == max_parts) return bad("too many parts");
    parts.push_back(part);
    pos = end + 2;
  }
}

std::optional<std::string_view> multipart_field(std::string_view body,
                                                const std::vector<MultipartPart> &parts,
                                                std::string_view name) {
  for (const auto &p : parts)
    if (p.name == name && p.filename.empty())
      return body.substr(p.value_begin, p.value_end - p.value_begin);
  return std::nullopt;
}

Result<std::string> replace_multipart_field(std::string_view body, std::string_view boundary,
                                            const std::vector<MultipartPart> &parts,
                                            std::string_view name, std::string_view value) {
  std::string delim = "--" + std::string(boundary);
  if (value.find(delim) != std::string_view::npos || value.find('\r') != std::string_view::npos ||
      value.find('\n') != std::string_view::npos)
    return Error::client(400, "the value of the form field \"" + std::string(name) +
                                  "\" cannot be written into this multipart body");
  std::string out;
  out.reserve(body.size() + value.size());
  size_t copied = 0;
  bool found = false;
  for (const auto &p : parts) {
    if (p.name != name || !p.filename.empty()) continue;
    out.append(body.substr(copied, p.value_begin - copied));
    out.append(value);
    copied = p.value_end;
    found = true;
  }
  if (!found) {
    // Before the closing delimiter: the last part's end is where "\r\n--boundary--" starts;
    // without parts, it is the first delimiter the parser finds (after any preamble).
    size_t at = parts.empty() ? std::string_view::npos : parts.back().value_end;
    if (parts.empty()) {
      if (body.starts_with(delim)) {
        at = 0;
      } else if (size_t crlf = body.find("\r\n" + delim); crlf != std::string_view::npos) {
        at = crlf + 2;
      } else {
        at = body.size();
      }
    }
    out.append(body.substr(0, at));
    if (!parts.empty()) out.append("\r\n");
    out.append(delim);
    out.append("\r\nContent-Disposition: form-data; name=\"");
    out.append(name);
    out.append("\"\r\n\r\n");
    out.append(value);
    if (parts.empty()) out.append("\r\n");
    copied = at;
  }
  out.append(body.substr(copied));
  return out;
}

} // namespace aigw::pipeline
