// testupstream: fake AI provider honouring Envoy AI Gateway's testupstream header contract.
#include "cassette.h"
#include "support.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace testupstream {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
constexpr std::uint64_t kBodyLimit = 64ULL << 20;
constexpr std::uint32_t kHeaderLimit = 8U << 20;

struct Config {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string cassettes_dir;
  std::string upstream_id;                 // env TESTUPSTREAM_ID
  microseconds streaming_interval{200000}; // upstream's default, env STREAMING_INTERVAL
};

// Response headers with Go's Header.Set / Header.Add semantics (names case-insensitive).
class HeaderList {
public:
  void set(std::string_view name, std::string_view value) {
    erase(name);
    add(name, value);
  }
  void add(std::string_view name, std::string_view value) { items_.emplace_back(name, value); }
  void erase(std::string_view name) {
    std::erase_if(items_, [name](const auto &kv) { return beast::iequals(kv.first, name); });
  }
  bool has(std::string_view name) const {
    return std::any_of(items_.begin(), items_.end(),
                       [name](const auto &kv) { return beast::iequals(kv.first, name); });
  }
  const std::vector<std::pair<std::string, std::string>> &items() const { return items_; }

private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Everything needed to write one response.
struct Plan {
  unsigned status = 200;
  HeaderList headers;
  std::string body;                // used when !streaming
  bool streaming = false;          // chunked transfer encoding, one write per piece
  std::vector<std::string> pieces; // used when streaming
  microseconds delay{0};           // sleep between pieces
  bool delay_before_first = false; // upstream sleeps before every piece, even the first
  bool gzip_stream = false;        // gzip the pieces, sync-flushing after each
  std::string note;                // for the log line
};

// Incremental gzip writer over zlib.
class Gzip {
public:
  Gzip() {
    ok_ = deflateInit2(&zs_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) ==
          Z_OK;
  }
  ~Gzip() {
    if (ok_) {
      deflateEnd(&zs_);
    }
  }
  Gzip(const Gzip &) = delete;
  Gzip &operator=(const Gzip &) = delete;

  // Compresses `data`; `flush` is Z_SYNC_FLUSH (emit a complete block) or Z_FINISH (trailer).
  std::string push(std::string_view data, int flush) {
    std::string out;
    if (!ok_) {
      return out;
    }
    zs_.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
    zs_.avail_in = static_cast<uInt>(data.size());
    char buf[16384];
    for (;;) {
      zs_.next_out = reinterpret_cast<Bytef *>(buf);
      zs_.avail_out = sizeof(buf);
      const int rc = deflate(&zs_, flush);
      out.append(buf, sizeof(buf) - zs_.avail_out);
      if (rc == Z_STREAM_ERROR || (flush == Z_FINISH ? rc == Z_STREAM_END : zs_.avail_out != 0)) {
        break;
      }
      if (rc == Z_BUF_ERROR && zs_.avail_out != 0) {
        break;
      }
    }
    return out;
  }

private:
  z_stream zs_{};
  bool ok_ = false;
};

std::string gzip_all(std::string_view data) {
  Gzip gz;
  return gz.push(data, Z_FINISH);
}

void put_u32(std::string &out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

// One AWS event stream message with a single string header.
std::string aws_event_message(std::string_view header_name, std::string_view header_value,
                              std::string_view payload) {
  std::string headers;
  headers.push_back(static_cast<char>(header_name.size()));
  headers += header_name;
  headers.push_back(7); // string value type
  headers.push_back(static_cast<char>((header_value.size() >> 8) & 0xff));
  headers.push_back(static_cast<char>(header_value.size() & 0xff));
  headers += header_value;
  std::string msg;
  put_u32(msg, static_cast<std::uint32_t>(12 + headers.size() + payload.size() + 4));
  put_u32(msg, static_cast<std::uint32_t>(headers.size()));
  put_u32(msg,
          static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef *>(msg.data()), 8)));
  msg += headers;
  msg += payload;
  put_u32(msg, static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef *>(msg.data()),
                                                static_cast<uInt>(msg.size()))));
  return msg;
}

// Upstream's Bedrock event type detection from the top-level keys of a JSON line.
std::string bedrock_event_type(std::string_view line) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(line);
  simdjson::dom::object obj;
  if (parser.parse(padded).get(obj)) {
    return {};
  }
  const std::pair<std::string_view, std::string_view> kinds[] = {
      {"role", "messageStart"},       {"start", "contentBlockStart"},
      {"delta", "contentBlockDelta"}, {"stopReason", "messageStop"},
      {"usage", "metadata"},          {"contentBlockIndex", "contentBlockStop"}};
  for (const auto &[key, type] : kinds) {
    simdjson::dom::element ignored;
    if (!obj.at_key(key).get(ignored)) {
      return std::string(type);
    }
  }
  return {};
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto pos = s.find(sep);
    out.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) {
      return out;
    }
    s = s.substr(pos + 1);
  }
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// Splits an SSE body into events, each keeping its exact bytes including the "\n\n" separator.
std::vector<std::string> split_sse_events(std::string_view body) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const auto sep = body.find("\n\n", pos);
    const auto end = sep == std::string_view::npos ? body.size() : sep + 2;
    out.emplace_back(body.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct Target {
  std::string raw_path; // as sent
  std::string path;     // percent-decoded, like Go's URL.Path
  std::string query;    // raw query, like Go's URL.RawQuery
};

Target split_target(std::string_view target) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    const auto slash = target.find('/', target.find("://") + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (const auto hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  Target t;
  const auto q = target.find('?');
  t.raw_path = std::string(target.substr(0, q));
  t.query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  t.path = percent_decode(t.raw_path);
  return t;
}

std::optional<int> parse_int(std::string_view s) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
  }
  int v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v;
}

// Parses Go-style durations such as "200ms", "1s", "50us" or "0".
std::optional<microseconds> parse_duration(std::string_view s) {
  double value = 0;
  std::size_t used = 0;
  try {
    value = std::stod(std::string(s), &used);
  } catch (...) {
    return std::nullopt;
  }
  const std::string_view unit = s.substr(used);
  double scale = 0;
  if (unit == "ns") {
    scale = 1e-3;
  } else if (unit == "us" || unit == "µs") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1e3;
  } else if (unit == "s") {
    scale = 1e6;
  } else if (unit == "m") {
    scale = 60e6;
  } else if (unit.empty() && value == 0) {
    scale = 0;
  } else {
    return std::nullopt;
  }
  if (value < 0) {
    return std::nullopt;
  }
  return microseconds(static_cast<long long>(value * scale));
}

std::string q(std::string_view s) { return json_quote(s); } // Go's %q, close enough

Plan error_plan(unsigned code, const std::string &msg) {
  Plan p;
  p.status = code;
  p.headers.set("Content-Type", "text/plain; charset=utf-8");
  p.headers.set("X-TestUpstream-Error", "true");
  p.body = msg + "\n";
  p.note = "ERROR: " + msg;
  return p;
}

Plan json_error_plan(unsigned code, std::string body, std::string note) {
  Plan p;
  p.status = code;
  p.headers.set("Content-Type", "application/json");
  p.headers.set("X-TestUpstream-Error", "true");
  p.body = std::move(body);
  p.note = "ERROR: " + std::move(note);
  return p;
}

class Handler {
public:
  Handler(const Config &config, CassetteStore *store) : config_(config), store_(store) {}

  Plan handle_safely(const Request &req) {
    try {
      return handle(req);
    } catch (const std::exception &e) {
      return error_plan(500, std::string("internal error: ") + e.what());
    } catch (...) {
      return error_plan(500, "internal error");
    }
  }

private:
  Plan handle(const Request &req);
  Plan cassette_plan(const Request &req, const Target &target, std::string_view name,
                     std::optional<microseconds> delay);
  Plan default_plan(const Request &req, const Target &target, Plan plan, std::string_view type,
                    std::optional<microseconds> delay);

  const Config &config_;
  CassetteStore *store_;
};

Plan Handler::handle(const Request &req) {
  const Target target = split_target(req.target());
  if (target.path == "/health") {
    return Plan{};
  }
  const auto header = [&req](std::string_view name) { return req[name]; };
  std::string decoded;
  std::string err;

  if (const auto v = header("x-expected-host"); !v.empty()) {
    const auto host = req[http::field::host];
    if (host != v) {
      return error_plan(400, "unexpected host: got " + q(host) + ", expected " + q(v));
    }
  }
  if (const auto v = header("x-expected-headers"); !v.empty()) {
    if (!base64_decode(v, decoded, err)) {
      return error_plan(400, "failed to decode the expected headers: " + err);
    }
    for (const auto kv : split(decoded, ',')) {
      const auto colon = kv.find(':');
      if (colon == std::string_view::npos) {
        return error_plan(400, "invalid header key-value pair: " + std::string(kv));
      }
      const auto key = kv.substr(0, colon);
      const auto value = kv.substr(colon + 1);
      if (const auto got = req[key]; got != value) {
        return error_plan(400, "unexpected header " + q(key) + ": got " + q(got) + ", expected " +
                                   q(value));
      }
    }
  }
  if (const auto v = header("x-non-expected-request-headers"); !v.empty()) {
    if (!base64_decode(v, decoded, err)) {
      return error_plan(400, "failed to decode the non-expected headers: " + err);
    }
    for (const auto key : split(decoded, ',')) {
      if (const auto got = req[key]; !got.empty()) {
        return error_plan(400, "unexpected header " + q(key) + " presence with value " + q(got));
      }
    }
  }
  if (const auto v = header("x-expected-testupstream-id"); !v.empty() && v != config_.upstream_id) {
    return error_plan(400, "unexpected testupstream-id: received by '" + config_.upstream_id +
                               "' but expected '" + std::string(v) + "'\n");
  }
  if (const auto v = header("x-expected-path"); !v.empty()) {
    if (!base64_decode(v, decoded, err)) {
      return error_plan(400, "failed to decode the expected path: " + err);
    }
    if (target.path != decoded) {
      return error_plan(400, "unexpected path: got " + target.path + ", expected " + decoded);
    }
  }
  if (const auto v = header("x-expected-raw-query"); !v.empty() && target.query != v) {
    return error_plan(400,
                      "unexpected raw query: got " + target.query + ", expected " + std::string(v));
  }

  const std::string &body = req.body();
  const auto cassette = header("x-cassette-name");
  // Upstream requires Content-Length (no chunked request bodies) unless an endpoint picker
  // rewrote the body; bodyless GET/DELETE/HEAD are exempt. Cassette replay does not check.
  const bool bodyless =
      body.empty() && (req.method() == http::verb::get || req.method() == http::verb::delete_ ||
                       req.method() == http::verb::head);
  if (cassette.empty() && req.find(http::field::content_length) == req.end() && !bodyless &&
      header("x-gateway-destination-endpoint").empty()) {
    return error_plan(400, "no Content-Length header, using request body length: " +
                               std::to_string(body.size()));
  }
  if (const auto v = header("x-expected-request-body"); !v.empty()) {
    if (!base64_decode(v, decoded, err)) {
      return error_plan(400, "failed to decode the expected request body: " + err);
    }
    if (decoded != body) {
      return error_plan(400, "unexpected request body: got " + body + ", expected " + decoded);
    }
  }
  // The body as JSON: object key order ignored, arrays in order, numbers compared by value.
  if (const auto v = header("x-expected-request-json"); !v.empty()) {
    if (!base64_decode(v, decoded, err)) {
      return error_plan(400, "failed to decode the expected request JSON: " + err);
    }
    std::string diff;
    switch (compare_json(body, decoded, diff, "got", "expected")) {
    case JsonCompare::kEqual: break;
    case JsonCompare::kUnparsable:
      return error_plan(400, "unexpected request body: got " + body + ", expected JSON " + decoded +
                                 " (one of them is not JSON)");
    case JsonCompare::kDifferent:
      return error_plan(400, "unexpected request body (as JSON; first difference at " + diff +
                                 "): got " + body + ", expected " + decoded);
    }
  }

  std::optional<microseconds> delay;
  if (const auto v = header("x-response-chunk-delay-ms"); !v.empty()) {
    const auto ms = parse_int(v);
    if (!ms || *ms < 0 || *ms > 600000) {
      return error_plan(400, "invalid x-response-chunk-delay-ms: " + std::string(v) +
                                 " (want an integer number of milliseconds, 0..600000)");
    }
    delay = milliseconds(*ms);
  }

  if (!cassette.empty()) {
    return cassette_plan(req, target, cassette, delay);
  }

  Plan plan;
  if (const auto v = header("x-response-headers"); !v.empty()) {
    if (!base64_decode(v, decoded, err)) {
      return error_plan(400, "failed to decode the response headers: " + err);
    }
    for (const auto kv : split(decoded, ',')) {
      const auto colon = kv.find(':');
      if (colon == std::string_view::npos) {
        return error_plan(400, "invalid header key-value pair: " + std::string(kv));
      }
      plan.headers.set(kv.substr(0, colon), trim(kv.substr(colon + 1)));
    }
  }
  plan.headers.set("testupstream-id", config_.upstream_id);
  if (const auto v = header("x-response-status"); !v.empty()) {
    const auto status = parse_int(v);
    if (!status) {
      return error_plan(400, "failed to parse the response status: strconv.Atoi: parsing " + q(v) +
                                 ": invalid syntax");
    }
    if (*status < 200 || *status > 999) {
      return error_plan(400, "failed to parse the response status: " + std::string(v) +
                                 " is outside 200..999");
    }
    plan.status = static_cast<unsigned>(*status);
  }
  {
    // Best-effort model detection, echoed as X-Model like upstream.
    simdjson::dom::parser parser;
    const simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    simdjson::dom::element model;
    if (!parser.parse(padded).get(doc) && doc.is_object() && !doc["model"].get(model)) {
      std::string_view s;
      plan.headers.set("X-Model", model.get(s) ? simdjson::minify(model) : std::string(s));
    }
  }

  const std::string_view type = header("x-response-type");
  const std::string_view response_body = header("x-response-body");
  const microseconds interval = delay.value_or(config_.streaming_interval);

  if (type == "aws-event-stream") {
    if (!base64_decode(response_body, decoded, err)) {
      return error_plan(400, "failed to decode the response body: " + err);
    }
    plan.headers.set("Content-Type", "application/vnd.amazon.eventstream");
    for (const auto line : split(decoded, '\n')) {
      if (!line.empty()) {
        plan.pieces.push_back(aws_event_message(":event-type", bedrock_event_type(line), line));
      }
    }
    plan.pieces.push_back(aws_event_message("event-type", "end", "this-is-end"));
    plan.streaming = true;
    plan.delay = interval;
    plan.delay_before_first = true;
    return plan;
  }
  if (response_body.empty()) {
    return default_plan(req, target, std::move(plan), type, delay);
  }
  if (!base64_decode(response_body, decoded, err)) {
    return error_plan(400, "failed to decode the response body: " + err);
  }
  if (type == "sse" || type == "sse-gzip") {
    plan.headers.set("Content-Type", "text/event-stream");
    if (type == "sse-gzip") {
      plan.headers.set("Content-Encoding", "gzip");
      plan.gzip_stream = true;
    }
    if (decoded.find("\n\n") != std::string::npos) {
      std::string_view rest = decoded;
      for (;;) {
        const auto sep = rest.find("\n\n");
        const auto block = rest.substr(0, sep);
        if (!trim(block).empty()) {
          plan.pieces.push_back(std::string(block) + "\n\n");
        }
        if (sep == std::string_view::npos) {
          break;
        }
        rest = rest.substr(sep + 2);
      }
    } else {
      for (const auto line : split(decoded, '\n')) {
        if (!line.empty()) {
          plan.pieces.push_back("data: " + std::string(line) + "\n\n");
        }
      }
    }
    plan.streaming = true;
    plan.delay = interval;
    plan.delay_before_first = true;
    return plan;
  }
  if (!plan.headers.has("Content-Type")) {
    plan.headers.set("Content-Type", "application/json");
  }
  plan.body = std::move(decoded);
  if (type == "gzip") {
    plan.headers.set("Content-Encoding", "gzip");
    plan.body = gzip_all(plan.body);
  }
  return plan;
}

Plan Handler::default_plan(const Request &req, const Target &target, Plan plan,
                           std::string_view type, std::optional<microseconds> delay) {
  const std::string_view fake = req["x-fake-response"];
  if (target.path == "/non-llm-route") {
    plan.body = R"({"message":"This is a non-LLM endpoint response"})";
  } else if (!fake.empty()) {
    plan.body = canned::fake_sized_response(target.path, fake);
    if (plan.body.empty()) {
      return error_plan(400, "failed to get the fake response for path " + target.path +
                                 ": unknown large fake response key: " + std::string(fake));
    }
  } else {
    const auto endpoint = canned::classify(req.method_string(), target.path);
    if (endpoint == canned::Endpoint::kNone) {
      plan.status = 404;
      plan.headers.set("Content-Type", "application/json");
      plan.body = canned::openai_error("Invalid URL (" + std::string(req.method_string()) + " " +
                                           target.path + ")",
                                       "invalid_request_error", "");
      plan.note = "no canned response for this path";
      return plan;
    }
    canned::RequestInfo info = canned::inspect_request(req.body());
    if (const auto v = req["x-response-chunks"]; !v.empty()) {
      const auto n = parse_int(v);
      if (!n || *n < 1 || *n > 1000000)
        return error_plan(400, "invalid x-response-chunks: " + std::string(v) +
                                   " (want an integer number of events, 1..1000000)");
      info.chunks = static_cast<int>(*n);
    }
    const bool sse_type = type == "sse" || type == "sse-gzip";
    if (endpoint != canned::Endpoint::kEmbeddings && (info.stream || sse_type)) {
      plan.pieces = endpoint == canned::Endpoint::kChatCompletions
                        ? canned::chat_completion_stream(info)
                        : canned::text_completion_stream(info);
      plan.streaming = true;
      plan.delay = delay.value_or(milliseconds(20));
      plan.headers.set("Content-Type", "text/event-stream");
      plan.headers.set("Cache-Control", "no-cache");
      if (type == "sse-gzip" || type == "gzip") {
        plan.headers.set("Content-Encoding", "gzip");
        plan.gzip_stream = true;
      }
      plan.note = "canned stream";
      return plan;
    }
    switch (endpoint) {
    case canned::Endpoint::kChatCompletions: plan.body = canned::chat_completion(info); break;
    case canned::Endpoint::kCompletions: plan.body = canned::text_completion(info); break;
    default: plan.body = canned::embeddings(info); break;
    }
    plan.note = "canned";
  }
  if (!plan.headers.has("Content-Type")) {
    plan.headers.set("Content-Type", "application/json");
  }
  if (type == "gzip") {
    plan.headers.set("Content-Encoding", "gzip");
    plan.body = gzip_all(plan.body);
  }
  return plan;
}

Plan Handler::cassette_plan(const Request &req, const Target &target, std::string_view name,
                            std::optional<microseconds> delay) {
  const auto error_body = [&](std::string_view type, const std::string &message,
                              const std::string &extra) {
    return "{\"error\":{\"message\":" + json_quote(message) + ",\"type\":" + json_quote(type) +
           ",\"cassette\":" + json_quote(name) + extra + "}}";
  };
  if (store_ == nullptr) {
    const std::string msg = "x-cassette-name given but cassette mode is not enabled (start "
                            "testupstream with --cassettes DIR)";
    return json_error_plan(400, error_body("testupstream_cassette_error", msg, ""), msg);
  }
  std::string err;
  const Cassette *cassette = store_->get(std::string(name), err);
  if (cassette == nullptr) {
    const std::string msg = "cassette " + q(name) + " not found in " + store_->dir() + ": " + err;
    return json_error_plan(400, error_body("testupstream_cassette_error", msg, ""), msg);
  }
  const IncomingRequest incoming{req.method_string(), target.raw_path, target.query,
                                 req[http::field::content_type], req.body()};
  const MatchResult match = match_interaction(*cassette, incoming, name.starts_with("azure-"));
  if (match.interaction == nullptr) {
    const std::string msg = "no interaction in cassette " + q(name) + " matched " +
                            std::string(req.method_string()) + " " + std::string(req.target());
    const std::string extra = ",\"request\":{\"method\":" + json_quote(req.method_string()) +
                              ",\"path\":" + json_quote(target.raw_path) +
                              ",\"query\":" + json_quote(target.query) +
                              "},\"candidates\":" + match.candidates_json;
    return json_error_plan(400, error_body("testupstream_cassette_mismatch", msg, extra),
                           msg + " " + match.candidates_json);
  }
  const Interaction &it = *match.interaction;
  Plan plan;
  plan.status = static_cast<unsigned>(it.code);
  bool sse = false;
  for (const auto &[key, value] : it.response_headers) {
    if (beast::iequals(key, "Content-Length") || beast::iequals(key, "Content-Encoding") ||
        beast::iequals(key, "Transfer-Encoding") || beast::iequals(key, "Connection")) {
      continue;
    }
    if (beast::iequals(key, "Content-Type") && trim(value).starts_with("text/event-stream")) {
      sse = true;
    }
    plan.headers.add(key, value);
  }
  if (sse) {
    plan.streaming = true;
    plan.pieces = split_sse_events(it.response_body);
    plan.delay = delay.value_or(milliseconds(1));
  } else {
    plan.body = it.response_body;
  }
  plan.note = "cassette " + std::string(name) + "#" + std::to_string(it.index);
  return plan;
}

bool valid_header(std::string_view name, std::string_view value) {
  if (name.empty()) {
    return false;
  }
  for (const char c : name) {
    if (c <= 32 || c >= 127 || c == ':' || c == '(' || c == ')' || c == '"' || c == '/' ||
        c == ',' || c == ';' || c == '<' || c == '>' || c == '@' || c == '[' || c == ']' ||
        c == '\\' || c == '{' || c == '}' || c == '=' || c == '?') {
      return false;
    }
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

template <class Fields> void apply_headers(const HeaderList &headers, Fields &fields) {
  for (const auto &[name, value] : headers.items()) {
    if (valid_header(name, value)) {
      fields.insert(name, value);
    }
  }
}

// Writes the planned response; returns whether the connection may be reused.
net::awaitable<bool> write_plan(beast::tcp_stream &stream, Plan &plan, const Request &req) {
  const bool keep_alive = req.keep_alive();
  const bool head = req.method() == http::verb::head;
  const bool no_body = plan.status / 100 == 1 || plan.status == 204 || plan.status == 304;
  if (!plan.streaming || head || no_body) {
    std::string body = std::move(plan.body);
    if (plan.streaming) {
      for (const auto &piece : plan.pieces) {
        body += piece;
      }
      if (plan.gzip_stream) {
        body = gzip_all(body);
      }
    }
    http::response<http::string_body> res;
    res.version(req.version());
    res.result(plan.status);
    apply_headers(plan.headers, res);
    res.keep_alive(keep_alive);
    if (!no_body) {
      res.content_length(body.size());
      if (!head) {
        res.body() = std::move(body);
      }
    }
    const auto [ec, n] = co_await http::async_write(stream, res, kUseTuple);
    co_return !ec && keep_alive;
  }

  http::response<http::empty_body> res;
  res.version(req.version());
  res.result(plan.status);
  apply_headers(plan.headers, res);
  res.keep_alive(keep_alive);
  res.chunked(true);
  http::response_serializer<http::empty_body> serializer{res};
  if (const auto [ec, n] = co_await http::async_write_header(stream, serializer, kUseTuple); ec) {
    co_return false;
  }
  std::optional<Gzip> gz;
  if (plan.gzip_stream) {
    gz.emplace();
  }
  net::steady_timer timer(stream.get_executor());
  for (std::size_t i = 0; i < plan.pieces.size(); ++i) {
    if (plan.delay.count() > 0 && (i > 0 || plan.delay_before_first)) {
      timer.expires_after(plan.delay);
      if (const auto [ec] = co_await timer.async_wait(kUseTuple); ec) {
        co_return false;
      }
    }
    const std::string data = gz ? gz->push(plan.pieces[i], Z_SYNC_FLUSH) : plan.pieces[i];
    if (data.empty()) {
      continue; // an empty chunk would terminate the body
    }
    if (const auto [ec, n] =
            co_await net::async_write(stream, http::make_chunk(net::buffer(data)), kUseTuple);
        ec) {
      co_return false;
    }
  }
  if (gz) {
    const std::string tail = gz->push({}, Z_FINISH);
    if (!tail.empty()) {
      if (const auto [ec, n] =
              co_await net::async_write(stream, http::make_chunk(net::buffer(tail)), kUseTuple);
          ec) {
        co_return false;
      }
    }
  }
  const auto [ec, n] = co_await net::async_write(stream, http::make_chunk_last(), kUseTuple);
  co_return !ec && keep_alive;
}

// Answers a request that could not be read, when the peer can still be told why.
net::awaitable<void> reply_to_read_error(beast::tcp_stream &stream, beast::error_code ec) {
  unsigned status = 0;
  std::string msg;
  if (ec == http::error::header_limit) {
    status = 431;
    msg = "request headers exceed the limit";
  } else if (ec == http::error::body_limit) {
    status = 413;
    msg = "request body exceeds the 64 MiB limit";
  } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    status = 400;
    msg = "malformed request: " + ec.message();
  }
  if (status == 0) {
    co_return;
  }
  std::cerr << "[testupstream] ERROR [" << status << "]: " << msg << std::endl;
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set("X-TestUpstream-Error", "true");
  res.keep_alive(false);
  res.body() = msg + "\n";
  res.prepare_payload();
  co_await http::async_write(stream, res, kUseTuple);
}

net::awaitable<void> run_session(tcp::socket socket, Handler &handler) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    if (const auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
        ec) {
      co_await reply_to_read_error(stream, ec);
      break;
    }
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (const auto [ec, n] = co_await net::async_write(
              stream, net::buffer(kContinue.data(), kContinue.size()), kUseTuple);
          ec) {
        break;
      }
    }
    if (!parser.is_done()) {
      if (const auto [ec, n] = co_await http::async_read(stream, buffer, parser, kUseTuple); ec) {
        co_await reply_to_read_error(stream, ec);
        break;
      }
    }
    const Request req = parser.release();
    Plan plan = handler.handle_safely(req);
    std::cerr << "[testupstream] " << req.method_string() << " " << req.target() << " -> "
              << plan.status << (plan.note.empty() ? "" : " (") << plan.note
              << (plan.note.empty() ? "" : ")") << std::endl;
    if (!co_await write_plan(stream, plan, req)) {
      break;
    }
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<void> accept_loop(tcp::acceptor &acceptor, Handler &handler) {
  net::steady_timer backoff(acceptor.get_executor());
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) {
        co_return;
      }
      backoff.expires_after(milliseconds(10)); // e.g. EMFILE: do not spin
      co_await backoff.async_wait(kUseTuple);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    net::co_spawn(acceptor.get_executor(), run_session(std::move(socket), handler),
                  [](const std::exception_ptr &e) {
                    if (!e) {
                      return;
                    }
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception &ex) {
                      std::cerr << "[testupstream] session error: " << ex.what() << std::endl;
                    } catch (...) {
                      std::cerr << "[testupstream] session error" << std::endl;
                    }
                  });
  }
}

void usage(std::ostream &os) {
  os << "usage: testupstream [--host ADDR] [--port N] [--cassettes DIR]\n"
        "  --host ADDR      listen address (default 127.0.0.1)\n"
        "  --port N         listen port (default $LISTENER_PORT, else 8080; 0 picks a free one)\n"
        "  --cassettes DIR  serve go-vcr cassettes named by the x-cassette-name header\n"
        "env: TESTUPSTREAM_ID (checked by x-expected-testupstream-id), STREAMING_INTERVAL\n"
        "     (Go duration between x-response-body stream chunks, default 200ms)\n";
}

// Parses flags into `config`; returns false (after printing why) on bad usage.
bool parse_flags(int argc, char **argv, Config &config) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      std::exit(0);
    }
    if (arg != "--port" && arg != "--host" && arg != "--cassettes") {
      std::cerr << "testupstream: unknown flag " << arg << "\n";
      usage(std::cerr);
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::cerr << "testupstream: " << arg << " needs a value\n";
        return false;
      }
      value = argv[++i];
    }
    if (arg == "--port") {
      const auto port = parse_int(value);
      if (!port || *port < 0 || *port > 65535) {
        std::cerr << "testupstream: invalid --port " << value << "\n";
        return false;
      }
      config.port = *port;
    } else if (arg == "--host") {
      config.host = std::string(value);
    } else {
      config.cassettes_dir = std::string(value);
    }
  }
  return true;
}

int run(int argc, char **argv) {
  Config config;
  if (const char *env = std::getenv("LISTENER_PORT"); env != nullptr && *env != '\0') {
    const auto port = parse_int(env);
    if (!port || *port < 0 || *port > 65535) {
      std::cerr << "testupstream: invalid LISTENER_PORT " << env << "\n";
      return 2;
    }
    config.port = *port;
  }
  if (const char *env = std::getenv("TESTUPSTREAM_ID"); env != nullptr) {
    config.upstream_id = env;
  }
  if (const char *env = std::getenv("STREAMING_INTERVAL"); env != nullptr && *env != '\0') {
    if (const auto d = parse_duration(env)) {
      config.streaming_interval = *d;
    }
  }
  if (!parse_flags(argc, argv, config)) {
    return 2;
  }

  std::unique_ptr<CassetteStore> store;
  if (!config.cassettes_dir.empty()) {
    std::error_code fs_ec;
    if (!std::filesystem::is_directory(config.cassettes_dir, fs_ec)) {
      std::cerr << "testupstream: --cassettes " << config.cassettes_dir << " is not a directory\n";
      return 2;
    }
    store = std::make_unique<CassetteStore>(config.cassettes_dir);
    std::vector<std::string> errors;
    const std::size_t loaded = store->load_all(errors);
    for (const auto &e : errors) {
      std::cerr << "[testupstream] cassette error: " << e << "\n";
    }
    std::cerr << "[testupstream] loaded " << loaded << " cassettes from " << config.cassettes_dir
              << std::endl;
  }

  net::io_context ioc{1};
  beast::error_code ec;
  tcp::endpoint endpoint;
  const auto address = net::ip::make_address(config.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<unsigned short>(config.port));
  } else {
    tcp::resolver resolver(ioc);
    const auto results = resolver.resolve(config.host, std::to_string(config.port), ec);
    if (ec || results.empty()) {
      std::cerr << "testupstream: cannot resolve host " << config.host << ": " << ec.message()
                << "\n";
      return 1;
    }
    endpoint = results.begin()->endpoint();
  }
  tcp::acceptor acceptor(ioc);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "testupstream: cannot listen on " << config.host << ":" << config.port << ": "
              << ec.message() << "\n";
    return 1;
  }
  const tcp::endpoint bound = acceptor.local_endpoint(ec);
  const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                   : bound.address().to_string();
  std::cout << "testupstream listening on " << host << ":" << bound.port() << std::endl;

  Handler handler(config, store.get());
  net::co_spawn(ioc, accept_loop(acceptor, handler), net::detached);
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code &error, int signal) {
    if (error) {
      return;
    }
    std::cerr << "[testupstream] signal " << signal << ", shutting down" << std::endl;
    beast::error_code ignored;
    acceptor.close(ignored);
    ioc.stop();
  });
  ioc.run();
  return 0;
}

} // namespace
} // namespace testupstream

int main(int argc, char **argv) {
  try {
    return testupstream::run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "testupstream: fatal: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "testupstream: fatal error\n";
  }
  return 1;
}
