// A small streaming JSON writer for translated bodies: appends to one string, tracks commas,
// escapes strings. Raw values (already-valid JSON, e.g. a tool's schema) are inserted as given.
// Not thread-safe; one per body.
#pragma once

#include "core/json_scan.h"

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::translate {

class JsonOut {
public:
  explicit JsonOut(std::string &out) : out_(out) {}

  JsonOut &begin_object() { return open('{'); }
  JsonOut &end_object() { return close('}'); }
  JsonOut &begin_array() { return open('['); }
  JsonOut &end_array() { return close(']'); }

  // REQUIRES: `k` needs no escaping (keys are the formats' own field names).
  JsonOut &key(std::string_view k) {
    comma();
    out_ += '"';
    out_.append(k);
    out_.append("\":", 2);
    after_key_ = true;
    return *this;
  }
  JsonOut &str(std::string_view v) {
    comma();
    json::append_quoted(out_, v);
    return *this;
  }
  JsonOut &raw(std::string_view v) {
    comma();
    out_.append(v.empty() ? std::string_view("null") : v);
    return *this;
  }
  JsonOut &num(uint64_t v) {
    comma();
    out_ += std::to_string(v);
    return *this;
  }
  JsonOut &num(int64_t v) {
    comma();
    out_ += std::to_string(v);
    return *this;
  }
  JsonOut &num(double v) {
    comma();
    char buf[32];
    // Shortest representation that round-trips.
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, static_cast<size_t>(r.ptr - buf));
    return *this;
  }
  JsonOut &boolean(bool v) {
    comma();
    out_ += v ? "true" : "false";
    return *this;
  }
  JsonOut &null() {
    comma();
    out_ += "null";
    return *this;
  }

  // key + value shorthands
  JsonOut &kv(std::string_view k, std::string_view v) { return key(k).str(v); }
  JsonOut &kv_raw(std::string_view k, std::string_view v) { return key(k).raw(v); }
  JsonOut &kv(std::string_view k, uint64_t v) { return key(k).num(v); }
  JsonOut &kv(std::string_view k, double v) { return key(k).num(v); }
  JsonOut &kv_bool(std::string_view k, bool v) { return key(k).boolean(v); }

private:
  JsonOut &open(char c) {
    comma();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  JsonOut &close(char c) {
    out_ += c;
    if (!first_.empty()) first_.pop_back();
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }

  std::string &out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

// Writes conversation turns that must alternate (Anthropic, Bedrock, Gemini): consecutive
// messages of one side go into one turn `{"role": <name>, <content_key>: [...]}`.
class TurnWriter {
public:
  TurnWriter(JsonOut &j, std::string_view user_role, std::string_view assistant_role,
             std::string_view content_key)
      : j_(j), user_(user_role), assistant_(assistant_role), content_key_(content_key) {}

  void user() { open(1); }
  void assistant() { open(2); }
  void close() {
    if (open_ != 0) j_.end_array().end_object();
    open_ = 0;
  }

private:
  void open(int side) {
    if (open_ == side) return;
    close();
    j_.begin_object().kv("role", side == 1 ? user_ : assistant_).key(content_key_).begin_array();
    open_ = side;
  }

  JsonOut &j_;
  std::string_view user_, assistant_, content_key_;
  int open_ = 0; // 0 none, 1 user, 2 assistant
};

} // namespace aigw::translate
