#include "pipeline/response_cache.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>

namespace aigw::pipeline {
namespace {

// A canonical writer over JSON text: whitespace outside strings dropped, members of each object
// sorted by their key as written (stable, so repeated keys keep their order).
class Canonical {
public:
  explicit Canonical(std::string_view t) : t_(t) {}
  bool value(std::string &out, int depth) {
    skip();
    if (i_ >= t_.size() || depth > 128) return false;
    char c = t_[i_];
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') return string(out);
    size_t start = i_;
    while (i_ < t_.size() && std::string_view(",]} \t\r\n").find(t_[i_]) == std::string_view::npos)
      ++i_;
    if (i_ == start) return false;
    out.append(t_.substr(start, i_ - start)); // a number, true, false or null as written
    return true;
  }
  bool done() {
    skip();
    return i_ == t_.size();
  }

private:
  void skip() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\r' || t_[i_] == '\n'))
      ++i_;
  }
  bool string(std::string &out) {
    size_t start = i_++;
    while (i_ < t_.size() && t_[i_] != '"')
      i_ += t_[i_] == '\\' ? 2 : 1;
    if (i_ >= t_.size()) return false;
    ++i_;
    out.append(t_.substr(start, i_ - start));
    return true;
  }
  bool object(std::string &out, int depth) {
    ++i_;
    std::vector<std::pair<std::string, std::string>> members;
    skip();
    if (i_ < t_.size() && t_[i_] == '}') {
      ++i_;
      out += "{}";
      return true;
    }
    for (;;) {
      skip();
      std::string key, val;
      if (i_ >= t_.size() || t_[i_] != '"' || !string(key)) return false;
      skip();
      if (i_ >= t_.size() || t_[i_++] != ':') return false;
      if (!value(val, depth + 1)) return false;
      members.emplace_back(std::move(key), std::move(val));
      skip();
      if (i_ >= t_.size()) return false;
      if (t_[i_] == '}') break;
      if (t_[i_++] != ',') return false;
    }
    ++i_;
    std::stable_sort(members.begin(), members.end(),
                     [](const auto &a, const auto &b) { return a.first < b.first; });
    out += '{';
    for (size_t m = 0; m < members.size(); ++m) {
      if (m) out += ',';
      out += members[m].first;
      out += ':';
      out += members[m].second;
    }
    out += '}';
    return true;
  }
  bool array(std::string &out, int depth) {
    ++i_;
    out += '[';
    skip();
    if (i_ < t_.size() && t_[i_] == ']') {
      ++i_;
      out += ']';
      return true;
    }
    for (bool first = true;; first = false) {
      if (!first) out += ',';
      if (!value(out, depth + 1)) return false;
      skip();
      if (i_ >= t_.size()) return false;
      if (t_[i_] == ']') break;
      if (t_[i_++] != ',') return false;
    }
    ++i_;
    out += ']';
    return true;
  }

  std::string_view t_;
  size_t i_ = 0;
};

void put_field(std::string &out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out.append(s);
}

bool get_field(std::string_view &in, std::string_view &field) {
  auto colon = in.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 12) return false;
  size_t n = 0;
  auto [end, ec] = std::from_chars(in.data(), in.data() + colon, n);
  if (ec != std::errc() || end != in.data() + colon || n > in.size() - colon - 1) return false;
  field = in.substr(colon + 1, n);
  in.remove_prefix(colon + 1 + n);
  return true;
}

constexpr std::string_view kMagic = "aigw-cache/1\n";

std::string count(const std::optional<uint64_t> &v) { return v ? std::to_string(*v) : "-"; }

bool read_count(std::string_view f, std::optional<uint64_t> &v) {
  if (f == "-") return true;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), n);
  if (ec != std::errc() || end != f.data() + f.size()) return false;
  v = n;
  return true;
}

} // namespace

std::optional<std::string> canonical_json(std::string_view body) {
  Canonical c(body);
  std::string out;
  out.reserve(body.size());
  if (!c.value(out, 0) || !c.done()) return std::nullopt;
  return out;
}

std::string response_cache_key(std::initializer_list<std::string_view> parts) {
  static EVP_MD *md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  unsigned char digest[32] = {};
  unsigned int len = 0;
  bool ok = md && ctx && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1;
  for (auto p : parts) {
    std::string head = std::to_string(p.size()) + ':'; // unambiguous: each part's length first
    ok = ok && EVP_DigestUpdate(ctx.get(), head.data(), head.size()) == 1 &&
         EVP_DigestUpdate(ctx.get(), p.data(), p.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx.get(), digest, &len) == 1 && len == 32;
  if (!ok) return {}; // no key: the request is not cached
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char c : digest) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

size_t CachedAnswer::size() const {
  size_t n = 0;
  for (const auto &c : chunks)
    n += c.size();
  return n;
}

std::string encode_cached(const CachedAnswer &a) {
  std::string out(kMagic);
  out.reserve(kMagic.size() + a.size() + 64 + a.chunks.size() * 8);
  put_field(out, a.content_type);
  put_field(out, a.stream ? "1" : "0");
  put_field(out, a.model);
  put_field(out, std::to_string(a.stored_at));
  for (const auto *v : {&a.usage.input, &a.usage.output, &a.usage.total, &a.usage.cached_input,
                        &a.usage.cache_creation_input, &a.usage.reasoning})
    put_field(out, count(*v));
  put_field(out, std::to_string(a.chunks.size()));
  for (const auto &c : a.chunks)
    put_field(out, c);
  return out;
}

std::optional<CachedAnswer> decode_cached(std::string_view in) {
  if (!in.starts_with(kMagic)) return std::nullopt;
  in.remove_prefix(kMagic.size());
  CachedAnswer a;
  std::string_view f;
  if (!get_field(in, f)) return std::nullopt;
  a.content_type = std::string(f);
  if (!get_field(in, f) || (f != "0" && f != "1")) return std::nullopt;
  a.stream = f == "1";
  if (!get_field(in, f)) return std::nullopt;
  a.model = std::string(f);
  std::optional<uint64_t> at;
  if (!get_field(in, f) || !read_count(f, at) || !at) return std::nullopt;
  a.stored_at = static_cast<int64_t>(*at);
  for (auto *v : {&a.usage.input, &a.usage.output, &a.usage.total, &a.usage.cached_input,
                  &a.usage.cache_creation_input, &a.usage.reasoning})
    if (!get_field(in, f) || !read_count(f, *v)) return std::nullopt;
  std::optional<uint64_t> n;
  if (!get_field(in, f) || !read_count(f, n) || !n || *n > in.size()) return std::nullopt;
  a.chunks.reserve(*n);
  for (uint64_t i = 0; i < *n; ++i) {
    if (!get_field(in, f)) return std::nullopt;
    a.chunks.emplace_back(f);
  }
  if (!in.empty()) return std::nullopt;
  return a;
}

ResponseCache::ResponseCache(size_t max_bytes)
    : shard_bytes_(std::max<size_t>(1, max_bytes / kShards)),
      shards_(std::make_unique<Shard[]>(kShards)) {}

ResponseCache::Shard &ResponseCache::shard(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % kShards];
}

void ResponseCache::evict(Shard &s, size_t budget) {
  while (s.bytes > budget && !s.lru.empty()) {
    auto &last = s.lru.back();
    s.bytes -= last.key.size() + last.value.size();
    s.index.erase(last.key);
    s.lru.pop_back();
  }
}

std::optional<std::string> ResponseCache::get(std::string_view key, int64_t now) {
  auto &s = shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end()) return std::nullopt;
  if (it->second->expires_at <= now) {
    s.bytes -= it->second->key.size() + it->second->value.size();
    auto node = it->second;
    s.index.erase(it);
    s.lru.erase(node);
    return std::nullopt;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second); // most recently used
  return it->second->value;
}

void ResponseCache::put(const std::string &key, std::string value, int64_t expires_at) {
  size_t size = key.size() + value.size();
  if (size > shard_bytes_) return; // never held: it would empty its shard
  auto &s = shard(key);
  std::lock_guard lock(s.mu);
  if (auto it = s.index.find(key); it != s.index.end()) {
    s.bytes -= it->second->key.size() + it->second->value.size();
    auto node = it->second;
    s.index.erase(it);
    s.lru.erase(node);
  }
  evict(s, shard_bytes_ - size);
  s.lru.push_front(Entry{key, std::move(value), expires_at});
  s.index.emplace(s.lru.front().key, s.lru.begin());
  s.bytes += size;
}

size_t ResponseCache::bytes() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].bytes;
  }
  return n;
}

size_t ResponseCache::entries() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].lru.size();
  }
  return n;
}

} // namespace aigw::pipeline
