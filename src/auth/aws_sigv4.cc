// AWS credentials parsing and SigV4 signing; see aws_sigv4.h.
#include "auth/aws_sigv4.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

namespace aigw::auth {
namespace {

constexpr char kUpperHex[] = "0123456789ABCDEF";
constexpr char kLowerHex[] = "0123456789abcdef";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    c = ascii_lower(c);
  return out;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void append_pct(std::string &out, unsigned char c) {
  out += '%';
  out += kUpperHex[c >> 4];
  out += kUpperHex[c & 15];
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a query component; '+' is a space. A '%' not followed by two hex digits is kept
// literally (it then re-encodes as "%25").
std::string query_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string_view signed_headers(std::string_view session_token) {
  return session_token.empty() ? "host;x-amz-date" : "host;x-amz-date;x-amz-security-token";
}

std::string to_hex(const unsigned char *p, size_t n) {
  std::string out(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kLowerHex[p[i] >> 4];
    out[2 * i + 1] = kLowerHex[p[i] & 15];
  }
  return out;
}

// SHA-256 of the concatenation of `parts`. The digest is fetched once and the context reused per
// thread: OpenSSL 3's implicit fetch in EVP_Digest/HMAC costs more than hashing a request.
bool sha256_raw(std::initializer_list<std::string_view> parts, unsigned char out[32]) {
  static EVP_MD *md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  if (!md || !ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return false;
  for (auto p : parts)
    if (EVP_DigestUpdate(ctx.get(), p.data(), p.size()) != 1) return false;
  unsigned int len = 0;
  return EVP_DigestFinal_ex(ctx.get(), out, &len) == 1 && len == 32;
}

// HMAC-SHA256(key, data) as raw bytes (RFC 2104 over sha256_raw); empty on an OpenSSL failure.
std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char k[64] = {};
  if (key.size() > 64) {
    if (!sha256_raw({key}, k)) return {};
  } else {
    std::copy(key.begin(), key.end(), k);
  }
  unsigned char ipad[64], opad[64];
  for (int i = 0; i < 64; ++i) {
    ipad[i] = static_cast<unsigned char>(k[i] ^ 0x36);
    opad[i] = static_cast<unsigned char>(k[i] ^ 0x5c);
  }
  auto view = [](const unsigned char *p, size_t n) {
    return std::string_view(reinterpret_cast<const char *>(p), n);
  };
  unsigned char inner[32], outer[32];
  if (!sha256_raw({view(ipad, 64), data}, inner)) return {};
  if (!sha256_raw({view(opad, 64), view(inner, 32)}, outer)) return {};
  return std::string(view(outer, 32));
}

// ---- credentials file ----

struct IniLine {
  enum Kind { kBlank, kSection, kKeyValue, kOther } kind = kBlank;
  std::string_view name; // section name or key
  std::string_view value;
  bool indented = false;
};

// Drops an inline comment: '#' or ';' preceded by whitespace.
std::string_view strip_inline_comment(std::string_view s) {
  for (size_t i = 1; i < s.size(); ++i)
    if ((s[i] == '#' || s[i] == ';') && is_space(s[i - 1])) return s.substr(0, i);
  return s;
}

IniLine classify(std::string_view raw) {
  IniLine line;
  line.indented = !raw.empty() && (raw.front() == ' ' || raw.front() == '\t');
  std::string_view s = trim(raw);
  if (s.empty() || s.front() == '#' || s.front() == ';') return line;
  if (s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) {
      line.kind = IniLine::kOther;
      return line;
    }
    line.kind = IniLine::kSection;
    line.name = trim(s.substr(1, close - 1));
    return line;
  }
  size_t eq = s.find('=');
  if (eq == std::string_view::npos) eq = s.find(':');
  if (eq == std::string_view::npos) {
    line.kind = IniLine::kOther;
    return line;
  }
  line.kind = IniLine::kKeyValue;
  line.name = trim(s.substr(0, eq));
  line.value = trim(strip_inline_comment(s.substr(eq + 1)));
  return line;
}

// Section names that select `profile`: exactly "x", or "profile x" (any spacing) as a fallback.
int section_match(std::string_view section, std::string_view profile) {
  if (section == profile) return 2;
  if (section.starts_with("profile") && section.size() > 7 && is_space(section[7]) &&
      trim(section.substr(7)) == profile)
    return 1;
  return 0;
}

// Key/value pairs of every section whose match level is `level`, in file order.
std::vector<std::pair<std::string, std::string_view>>
collect_section(std::string_view ini, std::string_view profile, int level, bool &found) {
  std::vector<std::pair<std::string, std::string_view>> kv;
  bool in_section = false;
  bool nested = false; // inside the indented block under "key =" with an empty value
  while (!ini.empty()) {
    size_t nl = ini.find('\n');
    std::string_view raw = ini.substr(0, nl);
    ini = nl == std::string_view::npos ? std::string_view() : ini.substr(nl + 1);
    IniLine line = classify(raw);
    if (line.kind == IniLine::kBlank) continue;
    if (nested && line.indented && line.kind != IniLine::kSection) continue;
    nested = false;
    if (line.kind == IniLine::kSection) {
      in_section = section_match(line.name, profile) == level;
      found = found || in_section;
      continue;
    }
    if (!in_section || line.kind != IniLine::kKeyValue) continue;
    if (line.value.empty()) nested = true;
    kv.emplace_back(lower(line.name), line.value);
  }
  return kv;
}

} // namespace

Result<AwsCredentials> parse_aws_credentials_file(std::string_view ini, std::string_view profile) {
  if (ini.starts_with("\xEF\xBB\xBF")) ini.remove_prefix(3);
  profile = trim(profile);
  bool found = false;
  auto kv = collect_section(ini, profile, 2, found);
  if (!found) kv = collect_section(ini, profile, 1, found);
  if (!found)
    return Error::config("aws credentials: profile \"" + std::string(profile) +
                         "\" not found in the credentials file");
  AwsCredentials creds;
  std::string legacy_token;
  for (const auto &[key, value] : kv) {
    if (key == "aws_access_key_id")
      creds.access_key_id = value;
    else if (key == "aws_secret_access_key")
      creds.secret_access_key = value;
    else if (key == "aws_session_token")
      creds.session_token = value;
    else if (key == "aws_security_token")
      legacy_token = value;
  }
  if (creds.session_token.empty()) creds.session_token = std::move(legacy_token);
  auto missing = [&](const char *key) {
    return Error::config("aws credentials: profile \"" + std::string(profile) + "\" has no " + key);
  };
  if (creds.access_key_id.empty()) return missing("aws_access_key_id");
  if (creds.secret_access_key.empty()) return missing("aws_secret_access_key");
  return creds;
}

std::optional<AwsCredentials> aws_credentials_from_env() {
  auto get = [](const char *name) -> std::string {
    const char *v = std::getenv(name); // NOLINT(concurrency-mt-unsafe): documented in the header
    return v ? std::string(trim(v)) : std::string();
  };
  AwsCredentials creds{get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"),
                       get("AWS_SESSION_TOKEN")};
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) return std::nullopt;
  return creds;
}

namespace {

bool is_region_label(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

// Tries the regex with one fixed suffix. On a match returns where the match starts (the '.'
// before "bedrock-runtime", or 0) and the region.
std::optional<std::pair<size_t, std::string_view>> match_with_suffix(std::string_view h,
                                                                     std::string_view suffix) {
  // host = <prefix> "bedrock-runtime" ["-fips"] "." <region> "." <suffix>; region has no dots.
  if (h.size() < suffix.size() + 1 || !h.ends_with(suffix)) return std::nullopt;
  std::string_view rest = h.substr(0, h.size() - suffix.size());
  if (!rest.ends_with('.')) return std::nullopt;
  rest.remove_suffix(1);
  size_t dot = rest.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view region = rest.substr(dot + 1);
  if (!is_region_label(region)) return std::nullopt;
  rest = rest.substr(0, dot);
  for (std::string_view label : {"bedrock-runtime", "bedrock-runtime-fips"}) {
    if (!rest.ends_with(label)) continue;
    size_t start = rest.size() - label.size();
    if (start == 0) return std::pair{size_t{0}, region};
    if (rest[start - 1] == '.') return std::pair{start - 1, region};
  }
  return std::nullopt;
}

std::string_view strip_port(std::string_view host) {
  size_t colon = host.rfind(':');
  if (colon == std::string_view::npos || host.find(']', colon) != std::string_view::npos)
    return host;
  std::string_view port = host.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return host;
  return host.substr(0, colon);
}

} // namespace

std::string bedrock_region_from_host(std::string_view host, std::string_view configured) {
  std::string h = lower(strip_port(trim(host)));
  // The regex engine returns the leftmost match; with several suffixes able to match, keep the
  // candidate that starts first.
  std::optional<std::pair<size_t, std::string_view>> best;
  for (std::string_view suffix : {"vpce.amazonaws.com", "amazonaws.com", "api.aws"}) {
    auto m = match_with_suffix(h, suffix);
    if (m && (!best || m->first < best->first)) best = m;
  }
  return best ? std::string(best->second) : std::string(configured);
}

std::string bedrock_path_escape(std::string_view model_id) {
  std::string out;
  out.reserve(model_id.size());
  for (char ch : model_id) {
    auto c = static_cast<unsigned char>(ch);
    // Go's shouldEscape(c, encodePathSegment): unreserved and ":@&=+$" stay.
    bool keep =
        is_unreserved(c) || c == ':' || c == '@' || c == '&' || c == '=' || c == '+' || c == '$';
    if (keep)
      out += ch;
    else
      append_pct(out, c);
  }
  return out;
}

namespace {

void append_padded(std::string &out, int64_t v, size_t width) {
  std::string digits = std::to_string(v);
  if (digits.size() < width) out.append(width - digits.size(), '0');
  out += digits;
}

} // namespace

namespace sigv4_detail {

std::string amz_date(int64_t t) {
  // Civil date from days since 1970-01-01 (proleptic Gregorian; eras of 400 years).
  int64_t days = t / 86400;
  int64_t secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;                                      // [0, 146096]
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; // [0, 399]
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               // [0, 365]
  int64_t mp = (5 * doy + 2) / 153;                                    // [0, 11], from March
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  std::string out;
  out.reserve(16);
  append_padded(out, year, 4);
  append_padded(out, month, 2);
  append_padded(out, day, 2);
  out += 'T';
  append_padded(out, secs / 3600, 2);
  append_padded(out, secs / 60 % 60, 2);
  append_padded(out, secs % 60, 2);
  out += 'Z';
  return out;
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  size_t run = 0; // characters kept as they are go in whole runs
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (is_unreserved(c) || (keep_slash && c == '/')) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    append_pct(out, c);
  }
  out.append(s.data() + run, s.size() - run);
  return out;
}

std::string canonical_uri(std::string_view raw_path) {
  // Dot segments and empty segments go (RFC 3986 normalization, as AWS specifies for every
  // service but S3 and as @smithy/signature-v4 and botocore do); the rest is encoded again.
  std::vector<std::string_view> segments;
  for (std::string_view rest = raw_path; !rest.empty();) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(seg);
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out += '/';
    out += uri_encode(segments[i], false);
  }
  if (!segments.empty() && raw_path.ends_with('/')) out += '/';
  return out;
}

std::string canonical_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!raw_query.empty()) {
    size_t amp = raw_query.find('&');
    std::string_view pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    params.emplace_back(uri_encode(query_decode(name), false),
                        uri_encode(query_decode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto &[name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string canonical_request(const SigV4Request &req, const AwsCredentials &creds,
                              std::string_view amz_date, std::string_view payload_hash) {
  std::string_view target = req.path;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  std::string out;
  out.reserve(256 + target.size() + creds.session_token.size());
  out.append(req.method).append("\n");
  out.append(canonical_uri(path)).append("\n");
  out.append(canonical_query(query)).append("\n");
  out.append("host:").append(trim(req.host)).append("\n");
  out.append("x-amz-date:").append(amz_date).append("\n");
  std::string_view token = trim(creds.session_token);
  if (!token.empty()) out.append("x-amz-security-token:").append(token).append("\n");
  out.append("\n");
  out.append(signed_headers(token));
  out.append("\n");
  out.append(payload_hash);
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[32];
  if (!sha256_raw({data}, md)) return {};
  return to_hex(md, 32);
}

} // namespace sigv4_detail

SigV4Headers sign_sigv4(const SigV4Request &req, const AwsCredentials &creds) {
  using namespace sigv4_detail;
  SigV4Headers out;
  out.amz_date = amz_date(req.unix_time);
  out.security_token = std::string(trim(creds.session_token));
  out.content_sha256 = sha256_hex(req.payload);
  std::string_view date = std::string_view(out.amz_date).substr(0, 8);
  // The signing key and the credential scope depend only on the secret, the day, the region and
  // the service: derived once per thread and day, not four HMACs per request.
  struct KeyCache {
    std::string secret, date, region, service, key, scope;
  };
  thread_local KeyCache cache;
  if (cache.key.empty() || cache.secret != creds.secret_access_key || cache.date != date ||
      cache.region != req.region || cache.service != req.service) {
    std::string key = hmac_sha256("AWS4" + creds.secret_access_key, date);
    key = hmac_sha256(key, req.region);
    key = hmac_sha256(key, req.service);
    key = hmac_sha256(key, "aws4_request");
    std::string scope = std::string(date) + "/" + std::string(req.region) + "/" +
                        std::string(req.service) + "/aws4_request";
    cache = KeyCache{creds.secret_access_key,  std::string(date), std::string(req.region),
                     std::string(req.service), std::move(key),    std::move(scope)};
  }
  const std::string &scope = cache.scope;
  std::string creq = canonical_request(req, creds, out.amz_date, out.content_sha256);
  unsigned char creq_hash[32];
  if (!sha256_raw({creq}, creq_hash)) return out;
  thread_local std::string string_to_sign;
  string_to_sign.clear();
  string_to_sign.append("AWS4-HMAC-SHA256\n").append(out.amz_date).append("\n");
  string_to_sign.append(scope).append("\n").append(to_hex(creq_hash, 32));
  std::string sig = hmac_sha256(cache.key, string_to_sign);
  if (sig.size() != 32 || out.content_sha256.empty()) return out;
  std::string_view headers = signed_headers(out.security_token);
  out.authorization.reserve(96 + creds.access_key_id.size() + scope.size() + headers.size());
  out.authorization.append("AWS4-HMAC-SHA256 Credential=").append(creds.access_key_id);
  out.authorization.append("/").append(scope).append(", SignedHeaders=").append(headers);
  out.authorization.append(", Signature=")
      .append(to_hex(reinterpret_cast<const unsigned char *>(sig.data()), 32));
  return out;
}

} // namespace aigw::auth
