// The usage chunk filter; see sse_filter.h.
#include "pipeline/sse_filter.h"

#include "core/sse.h"

#include <simdjson.h>

namespace aigw::pipeline {
size_t sse_event_end(std::string_view s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] != '\n' && s[i] != '\r') continue;
    // A line ends at i; a blank line follows when the next terminator starts right after.
    size_t next = i + 1;
    if (s[i] == '\r' && next < s.size() && s[next] == '\n') ++next;
    if (next >= s.size()) return std::string_view::npos;
    if (s[next] == '\n') return next + 1;
    if (s[next] == '\r') {
      if (next + 1 < s.size() && s[next + 1] == '\n') return next + 2;
      if (next + 1 >= s.size()) return std::string_view::npos; // "\r" may be followed by "\n"
      return next + 1;
    }
    i = next - 1;
  }
  return std::string_view::npos;
}

namespace {

// True when `event` holds "choices" followed by an empty array: a cheap test that spares the
// parse of every ordinary chunk (each carries "usage":null once usage is asked for).
bool has_empty_choices(std::string_view event) {
  constexpr std::string_view kKey = "\"choices\"";
  for (size_t pos = event.find(kKey); pos != std::string_view::npos;
       pos = event.find(kKey, pos + 1)) {
    size_t i = pos + kKey.size();
    auto skip = [&] {
      while (i < event.size() && (event[i] == ' ' || event[i] == '\t'))
        ++i;
    };
    skip();
    if (i >= event.size() || event[i] != ':') continue;
    ++i;
    skip();
    if (i >= event.size() || event[i] != '[') continue;
    ++i;
    skip();
    if (i < event.size() && event[i] == ']') return true;
  }
  return false;
}

} // namespace

bool is_usage_only_chunk(std::string_view event) {
  if (!has_empty_choices(event) || event.find("\"usage\"") == std::string_view::npos) return false;
  std::string data;
  size_t pos = 0;
  while (pos < event.size()) {
    size_t eol = event.find_first_of("\r\n", pos);
    std::string_view line = event.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    if (line.starts_with("data:")) {
      if (!data.empty()) data += '\n';
      data += sse::parse_field(line).value;
    } else if (line.starts_with("event:") && sse::parse_field(line).value != "message") {
      return false;
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(data).get(doc) || !doc.is_object()) return false;
  simdjson::dom::array choices;
  simdjson::dom::element usage;
  return !doc["choices"].get_array().get(choices) && choices.size() == 0 &&
         !doc["usage"].get(usage) && usage.is_object();
}

void UsageChunkFilter::feed(std::string_view in, bool end, std::string &out) {
  if (unfiltered_) {
    // The oversized event goes on as it comes, up to its end; filtering resumes after it.
    size_t e = sse_event_end(in, 0);
    if (e == std::string_view::npos) {
      out.append(in);
      if (end) unfiltered_ = false;
      return;
    }
    out.append(in.substr(0, e));
    in.remove_prefix(e);
    unfiltered_ = false;
  }
  pending_.append(in);
  size_t start = 0;
  for (;;) {
    size_t from = std::max(start, scanned_);
    size_t e = sse_event_end(pending_, from);
    if (e == std::string::npos) break;
    std::string_view event(pending_.data() + start, e - start);
    if (!is_usage_only_chunk(event)) out.append(event);
    start = e;
  }
  pending_.erase(0, start);
  // A boundary may straddle chunks: its first three bytes at most are already here.
  scanned_ = pending_.size() > 3 ? pending_.size() - 3 : 0;
  if (end) {
    out.append(pending_);
    pending_.clear();
    scanned_ = 0;
  } else if (pending_.size() > kMaxEvent) {
    out.append(pending_);
    pending_.clear();
    scanned_ = 0;
    unfiltered_ = true;
  }
}

} // namespace aigw::pipeline
