// Client authentication; see client_auth.h.
#include "auth/client_auth.h"

#include "core/base64.h"
#include "core/strings.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>

namespace aigw::auth {
namespace {

namespace dom = simdjson::dom;

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

std::string header_value(const HeaderLookup &headers, std::string_view name) {
  auto v = headers ? headers(name) : std::nullopt;
  return v ? std::string(*v) : std::string();
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Calls `each(name, value)` for every name=value of a query (from '?' or not), raw.
template <typename F> void for_each_param(std::string_view query, F each) {
  if (query.starts_with("?")) query.remove_prefix(1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = part.find('=');
    each(part.substr(0, eq),
         eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), part);
  }
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// A claim by dotted path (Envoy's claim_to_headers), as header text: strings as they are,
// numbers and booleans in JSON; objects, arrays and absent claims give nullopt.
std::optional<std::string> claim_text(dom::element claims, std::string_view path) {
  dom::element e = claims;
  while (!path.empty()) {
    auto dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    dom::object o;
    if (e.get_object().get(o)) return std::nullopt;
    if (o.at_key(part).get(e)) return std::nullopt;
  }
  std::string_view s;
  if (!e.get_string().get(s)) return std::string(s);
  if (e.is_int64() || e.is_uint64() || e.is_double() || e.is_bool()) return simdjson::minify(e);
  return std::nullopt;
}

// The token of one provider's sources: the first present. `where` is what carried it (a header
// to remove, or a parameter).
struct Found {
  std::string token;
  std::string header, param;
};

std::optional<Found> find_token(const JwtProviderConfig &p, const HeaderLookup &headers,
                                std::string_view query) {
  bool defaults = p.headers.empty() && p.params.empty() && p.cookies.empty();
  if (defaults) {
    std::string auth = header_value(headers, "authorization");
    if (iequals_prefix(auth, "bearer ")) return Found{auth.substr(7), "authorization", ""};
    if (auto t = query_param(query, "access_token")) return Found{*t, "", "access_token"};
    return std::nullopt;
  }
  for (const auto &h : p.headers) {
    std::string v = header_value(headers, h.name);
    if (v.empty()) continue;
    if (!h.prefix.empty()) {
      if (!iequals_prefix(v, h.prefix)) continue;
      v.erase(0, h.prefix.size());
    }
    return Found{std::string(trim_ows(v)), h.name, ""};
  }
  for (const auto &name : p.params)
    if (auto t = query_param(query, name)) return Found{*t, "", name};
  std::string cookie = header_value(headers, "cookie");
  for (const auto &name : p.cookies)
    if (auto t = cookie_value(cookie, name)) return Found{std::string(*t), "", ""};
  return std::nullopt;
}

// Where an API key came from, and the key.
std::optional<Found> find_api_key(const ApiKeyAuthConfig &c, const HeaderLookup &headers,
                                  std::string_view query) {
  for (const auto &h : c.headers) {
    auto v = headers ? headers(h) : std::nullopt;
    if (!v) continue;
    std::string_view key = trim_ows(*v);
    if (iequals_prefix(key, "bearer ")) key = trim_ows(key.substr(7));
    if (key.empty()) continue; // an empty header is no key: the next source may hold it
    return Found{std::string(key), h, ""};
  }
  for (const auto &name : c.params)
    if (auto t = query_param(query, name)) return Found{*t, "", name};
  std::string cookie = header_value(headers, "cookie");
  for (const auto &name : c.cookies)
    if (auto t = cookie_value(cookie, name)) return Found{std::string(*t), "", ""};
  return std::nullopt;
}

void note_source(const Found &f, ClientIdentity &id) {
  if (!f.header.empty()) id.remove_headers.push_back(f.header);
  if (!f.param.empty()) id.remove_params.push_back(f.param);
}

// The headers a verified JWT's claims set; a claim the token lacks removes the client's copy.
void claim_headers(const JwtProviderConfig &p, std::string_view payload, ClientIdentity &id) {
  if (p.claim_to_headers.empty()) return;
  dom::parser parser;
  dom::element claims;
  bool ok = !parser.parse(payload).get(claims);
  for (const auto &[claim, header] : p.claim_to_headers) {
    auto v = ok ? claim_text(claims, claim) : std::nullopt;
    // A claim that could not be a header value (CR, LF, other controls) is not forwarded.
    if (v && std::any_of(v->begin(), v->end(),
                         [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }))
      v.reset();
    if (v)
      id.set_headers.emplace_back(header, std::move(*v));
    else
      id.remove_headers.push_back(header);
  }
}

std::string issuer_of(std::string_view token) {
  auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return {};
  auto dot2 = token.find('.', dot1 + 1);
  auto payload = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload) return {};
  dom::parser parser;
  dom::element claims;
  std::string_view iss;
  if (parser.parse(*payload).get(claims) || claims["iss"].get_string().get(iss)) return {};
  return std::string(iss);
}

// jwt_authn with requires_any over the providers: the first provider whose token verifies (one
// naming the token's issuer is tried first). Every provider's claim headers are the gateway's:
// a client's own copy is removed whether or not a token came, so none can be spoofed.
bool check_jwt(const ClientAuth &policy, const HeaderLookup &headers, std::string_view query,
               JwksStore *jwks, int64_t now, ClientIdentity &id, AuthFailure &failure) {
  for (const auto &p : policy.jwt)
    for (const auto &ch : p.claim_to_headers)
      id.remove_headers.push_back(ch.second);
  std::vector<std::pair<const JwtProviderConfig *, Found>> candidates;
  for (const auto &p : policy.jwt)
    if (auto f = find_token(p, headers, query)) {
      bool named = !p.issuer.empty() && p.issuer == issuer_of(f->token);
      candidates.insert(named ? candidates.begin() : candidates.end(), {&p, std::move(*f)});
    }
  if (candidates.empty()) {
    if (policy.jwt_optional) return true;
    failure = {"Jwt is missing", "Bearer realm=\"aigw\""};
    return false;
  }
  for (const auto &[provider, found] : candidates) {
    JwksStore::Keys remote;
    const std::vector<JwtKey> *keys = &provider->local_keys;
    if (!provider->remote_uri.empty()) {
      remote = jwks ? jwks->keys(provider->remote_uri) : nullptr;
      if (!remote) {
        if (jwks) jwks->request_refresh(provider->remote_uri);
        if (failure.message.empty())
          failure = {"Jwks remote fetch is failed",
                     "Bearer realm=\"aigw\", error=\"invalid_token\""};
        continue;
      }
      keys = remote.get();
    }
    auto v = verify_jwt(found.token, *keys, provider->issuer, provider->audiences, now);
    if (!v) {
      if (jwks && !provider->remote_uri.empty() &&
          v.error().message.find("doesn't have key") != std::string::npos)
        jwks->request_refresh(provider->remote_uri); // rotated: the new key is fetched soon
      if (failure.message.empty())
        failure = {v.error().message, "Bearer realm=\"aigw\", error=\"invalid_token\""};
      continue;
    }
    failure = {};
    note_source(found, id);
    claim_headers(*provider, v->payload, id);
    if (id.client_id.empty()) id.client_id = v->subject;
    if (id.method.empty()) id.method = "jwt";
    return true;
  }
  return false;
}

bool check_basic(const BasicAuthConfig &c, const HeaderLookup &headers, ClientIdentity &id,
                 AuthFailure &failure) {
  std::string auth = header_value(headers, "authorization");
  std::optional<std::string> decoded;
  if (iequals_prefix(auth, "basic ")) decoded = base64_decode(trim_ows(auth.substr(6)));
  auto colon = decoded ? decoded->find(':') : std::string::npos;
  if (colon == std::string::npos) {
    failure = {"User authentication failed. Missing username and password.",
               "Basic realm=\"aigw\""};
    return false;
  }
  std::string user = decoded->substr(0, colon);
  std::string_view password = std::string_view(*decoded).substr(colon + 1);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char *>(password.data()), password.size(), digest);
  auto it = c.users.find(user);
  if (it == c.users.end() ||
      !constant_time_equal(it->second,
                           std::string_view(reinterpret_cast<char *>(digest), sizeof digest))) {
    failure = {"User authentication failed. Invalid username/password combination.",
               "Basic realm=\"aigw\""};
    return false;
  }
  id.remove_headers.push_back("authorization");
  if (!c.forward_username_header.empty())
    id.set_headers.emplace_back(c.forward_username_header, user);
  if (id.client_id.empty()) { // an API key checked first names the client
    id.client_id = user;
    id.method = "basic";
  }
  return true;
}

bool check_api_key(const ApiKeyAuthConfig &c, const HeaderLookup &headers, std::string_view query,
                   ClientIdentity &id, AuthFailure &failure) {
  auto found = find_api_key(c, headers, query);
  auto it = found ? c.keys.find(found->token) : c.keys.end();
  if (it == c.keys.end()) {
    failure = {"Client authentication failed.", ""};
    return false;
  }
  note_source(*found, id);
  if (!c.forward_client_id_header.empty())
    id.set_headers.emplace_back(c.forward_client_id_header, it->second);
  id.client_id = it->second;
  id.method = "api-key";
  return true;
}

} // namespace

// --- JwksStore -------------------------------------------------------------------------------

JwksStore::Keys JwksStore::keys(const std::string &uri) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(uri);
  return it == entries_.end() ? nullptr : it->second.keys;
}

void JwksStore::request_refresh(const std::string &uri) {
  std::lock_guard lock(mu_);
  entries_[uri].refresh = true;
}

bool JwksStore::due(const std::string &uri, std::chrono::seconds cache,
                    Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(uri);
  if (it == entries_.end() || it->second.attempted == Clock::time_point{}) return true;
  const Entry &e = it->second;
  if (now - e.attempted < kRetry) return false;
  return e.refresh || !e.keys || now - e.fetched >= cache;
}

bool JwksStore::start(const std::string &uri, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Entry &e = entries_[uri];
  if (e.in_flight) return false;
  e.in_flight = true;
  e.attempted = now;
  return true;
}

void JwksStore::put(const std::string &uri, Keys keys, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Entry &e = entries_[uri];
  e.attempted = now;
  e.refresh = false;
  e.in_flight = false;
  if (keys && !keys->empty()) {
    e.keys = std::move(keys);
    e.fetched = now;
  }
}

// --- Requests --------------------------------------------------------------------------------

AuthResult authenticate(const ClientAuth &policy, const HeaderLookup &headers,
                        std::string_view query, JwksStore *jwks, int64_t now) {
  AuthResult r;
  ClientIdentity id;
  // Envoy Gateway's filter order: api_key_auth, basic_auth, jwt_authn (the first to refuse
  // answers). The API key's client id names the client when there is one.
  ClientIdentity later;
  if (policy.api_key && !check_api_key(*policy.api_key, headers, query, later, r.failure)) return r;
  if (policy.basic && !check_basic(*policy.basic, headers, later, r.failure)) return r;
  if (!policy.jwt.empty() && !check_jwt(policy, headers, query, jwks, now, id, r.failure)) return r;
  if (!later.client_id.empty()) {
    id.client_id = std::move(later.client_id);
    id.method = later.method;
  }
  for (auto &h : later.set_headers)
    id.set_headers.push_back(std::move(h));
  for (auto &h : later.remove_headers)
    id.remove_headers.push_back(std::move(h));
  for (auto &p : later.remove_params)
    id.remove_params.push_back(std::move(p));
  r.identity = std::move(id);
  return r;
}

ClientIdentity identify_verified(const ClientAuth &policy, const HeaderLookup &headers,
                                 std::string_view query) {
  ClientIdentity id;
  for (const auto &p : policy.jwt) {
    auto f = find_token(p, headers, query);
    if (!f) continue;
    note_source(*f, id);
    auto dot1 = f->token.find('.');
    auto dot2 = dot1 == std::string::npos ? dot1 : f->token.find('.', dot1 + 1);
    if (dot2 == std::string::npos) break;
    auto payload = base64url_decode(std::string_view(f->token).substr(dot1 + 1, dot2 - dot1 - 1));
    if (!payload) break;
    dom::parser parser;
    dom::element claims;
    std::string_view sub;
    if (!parser.parse(*payload).get(claims) && !claims["sub"].get_string().get(sub))
      id.client_id = std::string(sub);
    id.method = "jwt";
    break;
  }
  if (policy.basic) {
    id.remove_headers.push_back("authorization");
    if (!policy.basic->forward_username_header.empty())
      if (auto u = header_value(headers, policy.basic->forward_username_header); !u.empty())
        id.client_id = u, id.method = "basic";
  }
  if (policy.api_key) {
    if (auto f = find_api_key(*policy.api_key, headers, query)) {
      note_source(*f, id);
      // The key names its client (the same Secret Envoy checked); else Envoy's forwarded id.
      if (auto it = policy.api_key->keys.find(f->token); it != policy.api_key->keys.end())
        id.client_id = it->second, id.method = "api-key";
    }
    if (!policy.api_key->forward_client_id_header.empty() && id.method != "api-key")
      if (auto c = header_value(headers, policy.api_key->forward_client_id_header); !c.empty())
        id.client_id = c, id.method = "api-key";
  }
  return id;
}

std::string strip_query_params(std::string_view query, const std::vector<std::string> &names) {
  std::string out;
  for_each_param(query, [&](std::string_view name, std::string_view, std::string_view part) {
    if (std::find(names.begin(), names.end(), percent_decode(name)) != names.end()) return;
    out += out.empty() ? '?' : '&';
    out += part;
  });
  return out;
}

std::string redact_query_params(std::string_view query, const std::vector<std::string> &names) {
  std::string out;
  for_each_param(query, [&](std::string_view name, std::string_view, std::string_view part) {
    out += out.empty() ? '?' : '&';
    if (std::find(names.begin(), names.end(), percent_decode(name)) == names.end())
      out += part;
    else
      out.append(name).append("=[REDACTED]");
  });
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  std::optional<std::string> found;
  for_each_param(query, [&](std::string_view n, std::string_view value, std::string_view) {
    if (!found && percent_decode(n) == name) found = percent_decode(value);
  });
  return found;
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view part = trim_ows(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      std::string_view v = part.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return std::nullopt;
}

Result<std::unordered_map<std::string, std::string>> parse_htpasswd(std::string_view text) {
  std::unordered_map<std::string, std::string> users;
  size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = trim_ows(line);
    if (line.empty() || line.front() == '#') continue;
    std::string where = "line " + std::to_string(line_no);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return Error::config(where + ": not user:{SHA}hash");
    std::string user(line.substr(0, colon));
    std::string_view hash = line.substr(colon + 1);
    if (!hash.starts_with("{SHA}"))
      return Error::config(where + ": user \"" + user +
                           "\": only {SHA} hashes are supported (htpasswd -s), as Envoy's "
                           "basic_auth");
    auto digest = base64_decode(hash.substr(5));
    if (!digest || digest->size() != SHA_DIGEST_LENGTH)
      return Error::config(where + ": user \"" + user + "\": the {SHA} hash is not base64 SHA-1");
    if (!users.emplace(user, std::move(*digest)).second)
      return Error::config(where + ": user \"" + user + "\" appears twice");
  }
  return users;
}

} // namespace aigw::auth
