// The MCP gateway's decisions for one request; see exchange.h.
#include "mcp/exchange.h"

#include "auth/jwt.h"
#include "core/base64.h"
#include "core/json_scan.h"
#include "core/strings.h"
#include "pipeline/exchange.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>

namespace aigw::mcp {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kSeparator = "__";

std::string minify(dom::element e) { return simdjson::minify(e); }

// `params` (an object) with `_meta.traceparent` set to `traceparent`, other keys kept in order.
std::string with_traceparent(dom::object params, std::string_view traceparent) {
  auto meta_of = [&](const dom::element *meta) {
    std::string m = "{";
    if (meta && meta->is_object())
      for (auto [k, v] : dom::object(*meta))
        if (k != "traceparent") m += json::quoted(k) + ":" + minify(v) + ",";
    return m + "\"traceparent\":" + json::quoted(traceparent) + "}";
  };
  std::string out = "{";
  bool had_meta = false;
  for (auto [k, v] : params) {
    if (out.size() > 1) out += ',';
    out += json::quoted(k) + ":";
    if (k == "_meta") {
      had_meta = true;
      out += meta_of(&v);
    } else {
      out += minify(v);
    }
  }
  if (!had_meta) out += std::string(out.size() > 1 ? "," : "") + "\"_meta\":" + meta_of(nullptr);
  return out + "}";
}

// Whether an object anywhere in `e` names a key twice. JSON parsers disagree on which one wins
// (this one reads the first, most servers the last), so a client's body with one is refused:
// what the rules judge must be what the server runs.
bool has_duplicate_keys(dom::element e, int depth = 0) {
  if (depth > 64) return true;
  dom::object o;
  dom::array a;
  if (!e.get_object().get(o)) {
    std::vector<std::string_view> keys;
    for (auto [k, v] : o) {
      keys.push_back(k);
      if (has_duplicate_keys(v, depth + 1)) return true;
    }
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
  }
  if (!e.get_array().get(a))
    for (dom::element x : a)
      if (has_duplicate_keys(x, depth + 1)) return true;
  return false;
}

// "" when absent or not a string (never throws: a missing field is an error result).
std::string_view str_of(simdjson::simdjson_result<dom::element> e) {
  std::string_view s;
  return e.get_string().get(s) ? std::string_view() : s;
}
std::string_view str_of(dom::element e) {
  return str_of(simdjson::simdjson_result<dom::element>(std::move(e)));
}

// `o` with `key` set to the raw JSON `value` (added when absent).
std::string with_field(dom::object o, std::string_view key, std::string_view value) {
  std::string out = "{";
  bool found = false;
  for (auto [k, v] : o) {
    if (out.size() > 1) out += ',';
    json::append_quoted(out, k);
    out += ':';
    if (k == key) {
      out += value;
      found = true;
    } else {
      out += minify(v);
    }
  }
  if (!found) {
    if (out.size() > 1) out += ',';
    json::append_quoted(out, key);
    out += ':';
    out += value;
  }
  return out + "}";
}

std::string rpc_request(std::string_view id_raw, std::string_view method, std::string_view params) {
  std::string out = "{\"jsonrpc\":\"2.0\"";
  if (!id_raw.empty()) out += ",\"id\":" + std::string(id_raw);
  out += ",\"method\":";
  json::append_quoted(out, method);
  if (!params.empty()) out += ",\"params\":" + std::string(params);
  return out + "}";
}

std::string rpc_result(std::string_view id_raw, std::string_view result) {
  return "{\"jsonrpc\":\"2.0\",\"id\":" + std::string(id_raw) +
         ",\"result\":" + std::string(result) + "}";
}

std::string sse_event(std::string_view data) {
  return "event: message\ndata: " + std::string(data) + "\n\n";
}

bool is_json(std::string_view content_type) {
  auto semi = content_type.find(';');
  return trim_ows(content_type.substr(0, semi)) == "application/json";
}

// The JSON messages of a backend's answer: one JSON body, or the data of each SSE event.
std::vector<std::string> messages_of(const BackendAnswer &a) {
  std::vector<std::string> out;
  if (is_json(a.content_type)) {
    out.push_back(a.body);
    return out;
  }
  std::string data;
  bool has_data = false;
  auto flush = [&] {
    if (has_data && !trim_ows(data).empty()) out.push_back(data);
    data.clear();
    has_data = false;
  };
  std::string_view rest = a.body;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      flush();
      continue;
    }
    if (line.starts_with("data:")) {
      std::string_view v = line.substr(5);
      if (v.starts_with(' ')) v.remove_prefix(1);
      if (has_data) data += '\n';
      data.append(v);
      has_data = true;
    }
  }
  flush();
  return out;
}

// Parses `name` as a tool or prompt the client named: (backend, upstream name).
struct Target {
  const control::CompiledMCPBackend *backend = nullptr;
  std::string name;
  int status = 0; // a refusal
  std::string error;
};

} // namespace

const control::CompiledMCPRoute *match_route(const control::Snapshot &s, std::string_view target,
                                             std::string_view host, const HeaderLookup &headers) {
  std::string_view path = target.substr(0, target.find('?'));
  if (auto colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']') == std::string_view::npos)
    host = host.substr(0, colon);
  auto host_ok = [&](const control::CompiledMCPRoute &r) {
    if (r.hostnames.empty()) return true;
    for (const auto &h : r.hostnames) {
      if (h.size() == host.size() &&
          std::equal(h.begin(), h.end(), host.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          }))
        return true;
      if (h.starts_with("*.") && host.size() > h.size() - 1 &&
          host.ends_with(std::string_view(h).substr(1)))
        return true;
    }
    return false;
  };
  for (const auto &r : s.mcp_routes) {
    if (r.behind_envoy) { // Envoy picked it: its HTTPRoute names it in x-ai-eg-mcp-route
      auto named = headers ? headers("x-ai-eg-mcp-route") : std::nullopt;
      if (named && *named == r.key) return &r;
      continue;
    }
    if (r.path != path || !host_ok(r)) continue;
    bool all = true;
    for (const auto &[name, value] : r.header_matches) {
      auto v = headers ? headers(name) : std::nullopt;
      if (!v || *v != value) {
        all = false;
        break;
      }
    }
    if (all) return &r;
  }
  return nullptr;
}

const control::CompiledMCPRoute *session_route(const control::Snapshot &s,
                                               std::string_view session_id, SessionCrypto &crypto) {
  if (session_id.empty()) return nullptr;
  auto plain = crypto.decrypt(session_id);
  if (!plain) return nullptr;
  std::string why;
  auto session = parse_session(*plain, &why);
  if (!session) return nullptr;
  for (const auto &r : s.mcp_routes)
    if (r.key == session->route) return &r;
  return nullptr;
}

// The claims of a bearer JWT, decoded but not verified; nullopt when it is not a JWT.
static std::optional<std::string> bearer_claims(std::string_view authorization) {
  std::string_view token = auth::bearer_token(authorization);
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return std::nullopt;
  return auth::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
}

std::string bearer_subject(std::string_view authorization) {
  auto decoded = bearer_claims(authorization);
  if (!decoded) return {};
  dom::parser p;
  dom::element doc;
  if (p.parse(*decoded).get(doc)) return {};
  return std::string(str_of(doc["sub"]));
}

std::string downstream_uri(std::string_view backend, std::string_view uri) {
  if (uri.starts_with("ui://"))
    return "ui://" + std::string(backend) + "/" + std::string(uri.substr(5));
  return std::string(backend) + "+" + std::string(uri);
}

std::optional<std::pair<std::string, std::string>> upstream_uri(std::string_view uri) {
  if (uri.starts_with("ui://")) {
    std::string_view rest = uri.substr(5);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    return std::pair(std::string(rest.substr(0, slash)),
                     "ui://" + std::string(rest.substr(slash + 1)));
  }
  size_t plus = uri.find('+');
  if (plus == std::string_view::npos || plus == 0) return std::nullopt;
  return std::pair(std::string(uri.substr(0, plus)), std::string(uri.substr(plus + 1)));
}

Exchange::Exchange(const control::CompiledMCPRoute &route, SessionCrypto &crypto,
                   std::string version)
    : route_(route), crypto_(crypto), version_(std::move(version)) {}

Reply Exchange::text(int status, std::string message) {
  error_ = message;
  Reply r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(message);
  return r;
}

std::string Exchange::session_header() const { return client_session_id_; }

bool Exchange::is_gateway_credential(std::string_view header) const {
  if (route_.oauth && header == "authorization") return true; // the client's JWT for the gateway
  return route_.api_key_auth &&
         std::find(route_.api_key_auth->headers.begin(), route_.api_key_auth->headers.end(),
                   header) != route_.api_key_auth->headers.end();
}

// Behind Envoy: the headers its backend listener routes on, and the request's MCP facts for its
// access log (upstream's x-ai-eg-mcp-metadata-*), values a client chose only when they are
// printable.
void add_envoy_headers(BackendCall &c, const std::string &route) {
  c.headers.emplace_back("x-ai-eg-mcp-backend", c.backend->name);
  c.headers.emplace_back("x-ai-eg-mcp-route", route);
  dom::parser p;
  dom::element doc, method;
  if (c.body.empty() || p.parse(c.body).get(doc) || !doc.is_object() || doc["method"].get(method) ||
      !method.is_string())
    return;
  auto printable = [](std::string_view v) {
    return v.size() <= 1024 && std::all_of(v.begin(), v.end(), [](unsigned char ch) {
             return ch >= 0x20 && ch != 0x7f;
           });
  };
  auto meta = [&](const char *name, std::string_view v) {
    if (printable(v)) c.headers.emplace_back(std::string("x-ai-eg-mcp-metadata-") + name, v);
  };
  dom::element id;
  if (!doc["id"].get(id) && !id.is_null())
    meta("request-id", id.is_string() ? std::string(str_of(id)) : minify(id));
  std::string_view m = str_of(method);
  meta("method", m);
  dom::element params;
  if (doc["params"].get(params) || !params.is_object()) return;
  if (m == "tools/call") meta("tool-name", str_of(params["name"]));
  if (m == "resources/read" || m == "resources/subscribe" || m == "resources/unsubscribe")
    meta("resource-uri", str_of(params["uri"]));
}

BackendCall Exchange::call(const control::CompiledMCPBackend &b, std::string body,
                           std::string_view session_id, std::string method) const {
  BackendCall c;
  c.backend = &b;
  c.method = std::move(method);
  c.target = b.path;
  if (!b.api_key.empty() && !b.api_key_query.empty()) {
    c.target += c.target.find('?') == std::string::npos ? '?' : '&';
    auto escape = [](std::string_view v) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      std::string out;
      for (unsigned char ch : v) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
          out += static_cast<char>(ch);
        } else {
          out += '%';
          out += kHex[ch >> 4];
          out += kHex[ch & 15];
        }
      }
      return out;
    };
    c.target += escape(b.api_key_query) + "=" + escape(b.api_key);
  }
  if (c.method == "POST") {
    c.headers.emplace_back("content-type", "application/json");
    c.headers.emplace_back("accept", "application/json, text/event-stream");
  } else if (c.method == "GET") {
    c.headers.emplace_back("accept", "text/event-stream");
  }
  // As upstream: the gateway decodes gzip and brotli itself, before it rewrites names, URIs and
  // ids.
  c.headers.emplace_back("accept-encoding", "gzip, br");
  // The version the session negotiated (every backend speaks it: it is the oldest they settled
  // on), as the client states it on each request after initialize; only a version the gateway
  // knows.
  if (auto v = headers_ ? headers_("mcp-protocol-version") : std::nullopt;
      v && rpc_method_ != "initialize" &&
      std::find(std::begin(kProtocolVersions), std::end(kProtocolVersions), *v) !=
          std::end(kProtocolVersions))
    c.headers.emplace_back("mcp-protocol-version", std::string(*v));
  if (!session_id.empty()) c.headers.emplace_back("mcp-session-id", std::string(session_id));
  if (!b.api_key.empty() && b.api_key_query.empty()) {
    std::string own;
    if (auto v = headers_ ? headers_(b.api_key_header) : std::nullopt) own = std::string(*v);
    // the credential a client authenticated to the gateway with is never passed on as its own
    if (is_gateway_credential(b.api_key_header)) own.clear();
    if (b.api_key_if_not_present && !own.empty())
      c.headers.emplace_back(b.api_key_header, std::move(own)); // the client's own key
    else
      c.headers.emplace_back(b.api_key_header, b.api_key_header == "authorization"
                                                   ? "Bearer " + b.api_key
                                                   : b.api_key);
  }
  auto is_claim = [&](std::string_view name) {
    if (is_gateway_credential(name)) return true; // never forwarded
    if (route_.api_key_auth && name == route_.api_key_auth->forward_client_id_header) return true;
    return route_.oauth &&
           std::any_of(route_.oauth->claim_to_headers.begin(), route_.oauth->claim_to_headers.end(),
                       [&](const auto &ch) { return ch.second == name; });
  };
  for (const auto &f : b.forward_headers)
    if (auto v = headers_ ? headers_(f.name) : std::nullopt; v && !is_claim(f.name))
      c.headers.emplace_back(f.backend_header.empty() ? f.name : f.backend_header, std::string(*v));
  for (const auto &h : claim_headers_)
    c.headers.push_back(h);
  c.body = std::move(body);
  if (route_.behind_envoy) add_envoy_headers(c, route_.key);
  return c;
}

namespace {
std::string json_list(const std::vector<std::string> &v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i)
    o += (i ? "," : "") + json::quoted(v[i]);
  return o + "]";
}
// A JSON object from (key, JSON value) pairs, keys sorted as Go marshals a map.
std::string json_object(std::map<std::string, std::string> fields) {
  std::string o = "{";
  for (const auto &[k, v] : fields)
    o += (o.size() > 1 ? "," : "") + json::quoted(k) + ":" + v;
  return o + "}";
}
} // namespace

std::string www_authenticate(const api::MCPRouteOAuth &oauth) {
  std::string v = R"(Bearer error="invalid_token", error_description="The access token is )"
                  R"(missing or invalid", resource_metadata=")" +
                  control::resource_metadata_url(oauth.metadata.resource) + "\"";
  const auto &scopes = oauth.metadata.scopes_supported;
  if (!scopes.empty()) {
    std::string joined;
    for (const auto &s : scopes)
      joined += (joined.empty() ? "" : " ") + s;
    v += ", scope=\"" + joined + "\"";
  }
  return v;
}

std::string protected_resource_metadata(const api::MCPRouteOAuth &o) {
  std::map<std::string, std::string> j;
  j["resource"] = json::quoted(o.metadata.resource);
  j["authorization_servers"] = json_list({o.issuer});
  j["bearer_methods_supported"] = json_list({"header"});
  auto str = [&](const char *key, const std::string &v) {
    if (!v.empty()) j[key] = json::quoted(v);
  };
  auto list = [&](const char *key, const std::vector<std::string> &v) {
    if (!v.empty()) j[key] = json_list(v);
  };
  str("resource_name", o.metadata.resource_name);
  list("scopes_supported", o.metadata.scopes_supported);
  list("resource_signing_alg_values_supported", o.metadata.signing_algs);
  str("resource_documentation", o.metadata.documentation);
  str("resource_policy_uri", o.metadata.policy_uri);
  return json_object(std::move(j));
}

std::string fallback_server_metadata(const api::MCPRouteOAuth &o) {
  std::string issuer = o.issuer;
  if (!issuer.empty() && issuer.back() == '/') issuer.pop_back(); // one, as Go's TrimSuffix
  const auto &scopes = o.metadata.scopes_supported;
  return json_object({
      {"issuer", json::quoted(issuer)},
      {"authorization_endpoint", json::quoted(issuer + "/protocol/openid-connect/auth")},
      {"token_endpoint", json::quoted(issuer + "/protocol/openid-connect/token")},
      {"jwks_uri", json::quoted(issuer + "/protocol/openid-connect/certs")},
      {"scopes_supported", scopes.empty() ? "null" : json_list(scopes)}, // a nil slice
      {"response_types_supported", json_list({"code"})},
      {"grant_types_supported", json_list({"authorization_code"})},
      {"token_endpoint_auth_methods_supported",
       json_list({"client_secret_basic", "client_secret_post"})},
      {"code_challenge_methods_supported", json_list({"S256"})},
  });
}

void Exchange::read_envoy_verified_claims() {
  // Envoy's jwt_authn verified the token before the request reached the proxy; its claims and
  // scopes are read as upstream reads them there, without checking the signature again.
  auto auth = headers_ ? headers_("authorization") : std::nullopt;
  auto payload = bearer_claims(auth ? *auth : std::string_view());
  dom::parser p;
  dom::element claims;
  if (!payload || p.parse(*payload).get(claims) || !claims.is_object()) return;
  jwt_payload_ = std::move(*payload);
  scopes_ = auth::jwt_scopes(jwt_payload_);
}

std::optional<Reply> Exchange::authenticate(const Request &r) {
  auto auth = headers_ ? headers_("authorization") : std::nullopt;
  static const std::vector<auth::JwtKey> kNone;
  auto v = auth::verify_jwt(auth::bearer_token(auth ? *auth : std::string_view()),
                            r.keys ? *r.keys : kNone, route_.oauth->issuer, route_.oauth->audiences,
                            r.now);
  if (!v) {
    Reply reply = text(401, v.error().message);
    reply.headers.emplace_back("www-authenticate", www_authenticate(*route_.oauth));
    return reply;
  }
  subject_ = v->subject;
  jwt_payload_ = v->payload;
  scopes_ = v->scopes;
  // claimToHeaders: the claim's value for the backends (a client's own copy never passes).
  dom::parser p;
  dom::element claims;
  if (!p.parse(v->payload).get(claims))
    for (const auto &[claim, header] : route_.oauth->claim_to_headers) {
      dom::element value;
      if (claims[claim].get(value)) continue;
      std::string_view s;
      std::string v = value.get_string().get(s) ? minify(value) : std::string(s);
      // A claim is the token issuer's text: one that could not be a header value (CR, LF, other
      // controls) or is oversized is not sent rather than let it reach a request head.
      bool valid = v.size() <= 8192 && std::none_of(v.begin(), v.end(), [](char c) {
                     auto u = static_cast<unsigned char>(c);
                     return (u < 0x20 && u != '\t') || u == 0x7f;
                   });
      if (valid) claim_headers_.emplace_back(header, std::move(v));
    }
  return std::nullopt;
}

cel::Value Exchange::cel_request(std::string_view backend, std::string_view tool,
                                 std::string_view params) const {
  cel::Map headers, all;
  for (const auto &[name, value] : header_list_) {
    headers.emplace(name, cel::Value::string(value)); // the first value
    auto &list = all[name];
    cel::List l = list.list ? *list.list : cel::List();
    l.push_back(cel::Value::string(value));
    list = cel::Value::of_list(std::move(l));
  }
  cel::Map mcp;
  mcp.emplace("method", cel::Value::string("tools/call"));
  mcp.emplace("backend", cel::Value::string(std::string(backend)));
  mcp.emplace("tool", cel::Value::string(std::string(tool)));
  mcp.emplace("params", params.empty() ? cel::Value::of_map({}) : cel::from_json(params));
  cel::Map request;
  request.emplace("method", cel::Value::string(http_method_));
  request.emplace("host", cel::Value::string(host_));
  request.emplace("path", cel::Value::string(path_));
  request.emplace("headers", cel::Value::of_map(std::move(headers)));
  request.emplace("headers_all", cel::Value::of_map(std::move(all)));
  request.emplace("mcp", cel::Value::of_map(std::move(mcp)));
  if (route_.oauth) {
    cel::List scopes;
    for (const auto &s : scopes_)
      scopes.push_back(cel::Value::string(s));
    cel::Map jwt;
    jwt.emplace("claims",
                jwt_payload_.empty() ? cel::Value::of_map({}) : cel::from_json(jwt_payload_));
    jwt.emplace("scopes", cel::Value::of_list(std::move(scopes)));
    cel::Map auth;
    auth.emplace("jwt", cel::Value::of_map(std::move(jwt)));
    request.emplace("auth", cel::Value::of_map(std::move(auth)));
  }
  return cel::Value::of_map(std::move(request));
}

bool Exchange::selected(std::string_view backend) const {
  // request.mcp carries only the backend here (no method, tool or params), as upstream binds it.
  cel::Value request = cel_request(backend, "", "");
  auto m = *request.map;
  cel::Map mcp;
  mcp.emplace("backend", cel::Value::string(std::string(backend)));
  m["mcp"] = cel::Value::of_map(std::move(mcp));
  cel::Value bound = cel::Value::of_map(std::move(m));
  for (const auto &[program, allow] : route_.backend_selector) {
    cel::Value r = program.evaluate(bound);
    if (r.kind != cel::Value::Kind::kBool) return false; // an error denies
    if (r.b) return allow;
  }
  return route_.backend_selector_default_allow;
}

Exchange::Decision Exchange::authorize(std::string_view backend, std::string_view tool,
                                       std::string_view params) const {
  Decision d;
  const auto &az = *route_.authorization;
  std::optional<cel::Value> request; // built once, when a rule has CEL
  dom::parser p;
  dom::element claims;
  bool have_claims = !jwt_payload_.empty() && !p.parse(jwt_payload_).get(claims);
  auto claim_matches = [&](const api::MCPAuthorizationRule::Claim &c) {
    if (!have_claims) return false;
    dom::element v = claims;
    std::string_view path = c.name;
    while (!path.empty()) { // a dotted name is a nested claim
      size_t dot = path.find('.');
      dom::element next;
      if (v[path.substr(0, dot)].get(next)) return false;
      v = next;
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    }
    auto listed = [&](std::string_view s) {
      return std::find(c.values.begin(), c.values.end(), s) != c.values.end();
    };
    std::string_view s;
    if (!c.array) return !v.get_string().get(s) && listed(s);
    dom::array a;
    if (v.get_array().get(a)) return false;
    for (dom::element e : a)
      if (!e.get_string().get(s) && listed(s)) return true;
    return false;
  };
  std::optional<std::vector<std::string>> wanted;
  for (size_t ri = 0; ri < az.rules.size(); ++ri) {
    const auto &rule = az.rules[ri];
    if (!rule.tools.empty() &&
        std::find(rule.tools.begin(), rule.tools.end(),
                  std::pair(std::string(backend), std::string(tool))) == rule.tools.end())
      continue;
    if (!std::all_of(rule.claims.begin(), rule.claims.end(), claim_matches)) continue;
    if (ri < route_.rule_cel.size() && route_.rule_cel[ri]) {
      if (!request) request = cel_request(backend, tool, params);
      cel::Value r = route_.rule_cel[ri]->evaluate(*request);
      // An evaluation error, or a value that is not a bool, denies (v1.2).
      if (r.kind != cel::Value::Kind::kBool) {
        d.allow = false;
        return d;
      }
      if (!r.b) continue;
    }
    std::vector<std::string> missing;
    for (const auto &s : rule.scopes)
      if (std::find(scopes_.begin(), scopes_.end(), s) == scopes_.end()) missing.push_back(s);
    if (!missing.empty()) {
      // An Allow rule short of scopes only: what the client should ask for (the fewest).
      if (rule.allow && (!wanted || rule.scopes.size() < wanted->size())) wanted = rule.scopes;
      continue;
    }
    d.allow = rule.allow;
    return d;
  }
  d.allow = az.default_allow;
  if (!d.allow && wanted) d.missing_scopes = *wanted;
  return d;
}

std::optional<Reply> Exchange::authenticate_key(const Request &r) {
  const auto &ak = *route_.api_key_auth;
  std::string key;
  for (const auto &h : ak.headers)
    if (auto v = headers_ ? headers_(h) : std::nullopt; v && !v->empty()) {
      key = std::string(trim_ows(*v));
      break;
    }
  if (key.empty() && !ak.params.empty()) {
    std::string_view q = r.query;
    while (!q.empty() && key.empty()) {
      size_t amp = q.find('&');
      std::string_view kv = q.substr(0, amp);
      q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      for (const auto &p : ak.params)
        if (kv.substr(0, eq) == p) key = std::string(kv.substr(eq + 1));
    }
  }
  auto it = key.empty() ? route_.client_keys.end() : route_.client_keys.find(key);
  if (it == route_.client_keys.end()) return text(401, "Client authentication failed.");
  client_id_ = it->second;
  if (!ak.forward_client_id_header.empty())
    claim_headers_.emplace_back(ak.forward_client_id_header, client_id_);
  return std::nullopt;
}

Exchange::Step Exchange::begin(const Request &r) {
  headers_ = r.headers;
  http_method_ = std::string(r.method);
  host_ = std::string(r.host);
  path_ = std::string(r.path);
  header_list_ = r.header_list;
  if (route_.oauth)
    if (auto refused = authenticate(r)) return *refused;
  if (route_.behind_envoy && route_.authorization) read_envoy_verified_claims();
  if (route_.api_key_auth) {
    if (auto refused = authenticate_key(r)) return *refused;
    if (!subject_) subject_ = client_id_; // the session belongs to the client
  }
  auto sid = headers_ ? headers_("mcp-session-id") : std::nullopt;
  if (sid && !sid->empty()) {
    client_session_id_ = std::string(*sid);
    auto plain = crypto_.decrypt(*sid);
    if (!plain) return text(400, "invalid session ID: failed to decrypt session ID");
    std::string why;
    session_ = parse_session(*plain, &why);
    if (!session_) return text(400, "invalid session ID: " + why);
    auto auth = headers_("authorization");
    std::string subject = subject_ ? *subject_ : bearer_subject(auth ? *auth : std::string_view());
    if (session_->subject != subject) return text(401, "session belongs to another subject");
    if (session_->route != route_.key) return text(404, "session is for another route");
  }
  if (r.method == "POST") return post(r);
  if (r.method == "GET") {
    if (!session_) return text(400, "missing session ID");
    return listen();
  }
  if (r.method == "DELETE") {
    if (!session_) return text(400, "missing session ID");
    rpc_method_ = "DELETE";
    std::vector<BackendCall> calls;
    for (const auto &bs : session_->backends)
      if (const auto *b = route_.backend(bs.backend); b && !bs.session_id.empty())
        calls.push_back(call(*b, "", bs.session_id, "DELETE"));
    if (calls.empty()) return deleted();
    phase_ = Phase::kDelete;
    calls_ = calls;
    return calls;
  }
  Reply reply = text(405, "method not allowed");
  reply.headers.emplace_back("allow", "GET, POST, DELETE");
  return reply;
}

Exchange::Step Exchange::deleted() {
  Reply r;
  r.status = 200;
  r.content_type = "text/plain; charset=utf-8";
  return r;
}

Exchange::Step Exchange::post(const Request &r) {
  dom::parser p;
  dom::element doc;
  if (p.parse(r.body.data(), r.body.size()).get(doc) || !doc.is_object())
    return text(400, "invalid JSON-RPC message: not a JSON object");
  if (has_duplicate_keys(doc)) return text(400, "invalid JSON-RPC message: a key appears twice");
  dom::element id, method, params;
  bool has_id = !doc["id"].get(id) && !id.is_null();
  bool has_method = !doc["method"].get(method) && method.is_string();
  if (has_id) id_raw_ = minify(id);
  std::string params_raw = doc["params"].get(params) ? "" : minify(params);
  if (!has_method) {
    // The client's answer to a request a server made of it through the gateway.
    if (!session_) return text(400, "missing session ID");
    return client_answer(id_raw_, r.body);
  }
  rpc_method_ = std::string(str_of(method));
  // Trace context for the backends, as upstream's tracer puts it in params._meta; a
  // traceparent the client put there is the parent.
  if (r.trace && !params_raw.empty() && params.is_object() && rpc_method_ != "ping" &&
      !rpc_method_.starts_with("notifications/")) {
    std::string_view client_tp;
    dom::element meta, tp;
    if (!params["_meta"].get(meta) && meta.is_object() && !meta["traceparent"].get(tp) &&
        tp.is_string())
      client_tp = str_of(tp);
    if (std::string inject = r.trace(client_tp); !inject.empty())
      params_raw = with_traceparent(dom::object(params), inject);
  }
  if (rpc_method_ == "initialize") return initialize(params_raw);
  if (rpc_method_ == "notifications/initialized" || rpc_method_ == "notifications/cancelled") {
    Reply reply;
    reply.status = 202;
    reply.content_type = "text/plain; charset=utf-8";
    return reply;
  }
  if (!session_) return text(400, "missing session ID");
  if (rpc_method_ == "ping") {
    Reply reply;
    reply.body = rpc_result(id_raw_.empty() ? "null" : id_raw_, "{}");
    return reply;
  }
  if (rpc_method_ == "tools/list") return fan_out(params_raw, kTools);
  if (rpc_method_ == "prompts/list") return fan_out(params_raw, kPrompts);
  if (rpc_method_ == "resources/list" || rpc_method_ == "resources/templates/list")
    return fan_out(params_raw, kResources);
  if (rpc_method_ == "logging/setLevel") return fan_out(params_raw, kLogging);
  if (rpc_method_ == "tools/call" || rpc_method_ == "prompts/get" ||
      rpc_method_ == "resources/read" || rpc_method_ == "resources/subscribe" ||
      rpc_method_ == "resources/unsubscribe" || rpc_method_ == "completion/complete")
    return single_call(params_raw);
  if (rpc_method_ == "notifications/roots/list_changed") {
    std::vector<BackendCall> calls;
    for (const auto &bs : session_->backends)
      if (const auto *b = route_.backend(bs.backend))
        calls.push_back(call(*b, rpc_request("", rpc_method_, params_raw), bs.session_id));
    phase_ = Phase::kFanOut;
    calls_ = calls;
    if (calls.empty()) {
      std::vector<BackendAnswer> none;
      return fan_out_reply(none);
    }
    return calls;
  }
  return text(400, "unsupported method: " + rpc_method_);
}

// --- initialize ----------------------------------------------------------------------------

Exchange::Step Exchange::initialize(std::string_view params) {
  dom::parser p;
  dom::element doc;
  if (params.empty() || p.parse(params.data(), params.size()).get(doc) || !doc.is_object())
    return text(400, "invalid initialize params");
  client_version_ = std::string(str_of(doc["protocolVersion"]));
  dom::object caps;
  if (!doc["capabilities"].get_object().get(caps))
    for (auto [k, v] : caps)
      client_caps_.emplace_back(k);
  session_.reset(); // a new session, whatever the client held
  client_session_id_.clear();
  std::vector<BackendCall> calls;
  for (const auto &b : route_.backends) {
    if (route_.has_backend_selector && !selected(b->name)) continue;
    calls.push_back(call(*b, rpc_request("\"aigw-initialize\"", "initialize", params), ""));
  }
  if (calls.empty()) return text(403, "access denied"); // the selector left no backend
  phase_ = Phase::kInitialize;
  calls_ = calls;
  return calls;
}

namespace {

// The capability bits of an initialize result.
uint16_t capability_bits(dom::element caps) {
  uint16_t bits = 0;
  dom::element c;
  auto flag = [](dom::element o, const char *k) {
    bool v = false;
    return !o[k].get_bool().get(v) && v;
  };
  if (!caps["tools"].get(c)) bits |= kTools | (flag(c, "listChanged") ? kToolsListChanged : 0);
  if (!caps["prompts"].get(c))
    bits |= kPrompts | (flag(c, "listChanged") ? kPromptsListChanged : 0);
  if (!caps["logging"].get(c)) bits |= kLogging;
  if (!caps["resources"].get(c))
    bits |= kResources | (flag(c, "listChanged") ? kResourcesListChanged : 0) |
            (flag(c, "subscribe") ? kResourcesSubscribe : 0);
  if (!caps["completions"].get(c)) bits |= kCompletions;
  return bits;
}

std::string capabilities_json(uint16_t bits) {
  std::string o = "{";
  auto add = [&](const char *name, std::string body) {
    if (o.size() > 1) o += ',';
    o += "\"" + std::string(name) + "\":" + body;
  };
  auto list_changed = [](bool v) { return v ? std::string("{\"listChanged\":true}") : "{}"; };
  if (bits & kTools) add("tools", list_changed(bits & kToolsListChanged));
  if (bits & kPrompts) add("prompts", list_changed(bits & kPromptsListChanged));
  if (bits & kResources) {
    std::string r = "{";
    if (bits & kResourcesListChanged) r += "\"listChanged\":true";
    if (bits & kResourcesSubscribe)
      r += std::string(r.size() > 1 ? "," : "") + "\"subscribe\":true";
    add("resources", r + "}");
  }
  if (bits & kLogging) add("logging", "{}");
  if (bits & kCompletions) add("completions", "{}");
  return o + "}";
}

// The JSON-RPC response among `messages` (one whose id is `id_raw`): its result, as JSON, or
// nullopt; `error` gets its error, if it is one.
std::optional<std::string> result_of(const std::vector<std::string> &messages,
                                     std::string_view id_raw, std::string *error) {
  for (const auto &m : messages) {
    dom::parser p;
    dom::element doc, id, v;
    if (p.parse(m).get(doc) || doc["id"].get(id) || minify(id) != id_raw) continue;
    if (!doc["result"].get(v)) return minify(v);
    if (!doc["error"].get(v) && error) *error = minify(v);
    return std::nullopt;
  }
  return std::nullopt;
}

} // namespace

Exchange::Step Exchange::on_answers(std::vector<BackendAnswer> answers) {
  switch (phase_) {
  case Phase::kInitialize: {
    ClientSession s;
    s.route = route_.key;
    auto auth = headers_ ? headers_("authorization") : std::nullopt;
    s.subject = subject_ ? *subject_ : bearer_subject(auth ? *auth : std::string_view());
    init_results_.clear();
    std::vector<BackendCall> next;
    for (size_t i = 0; i < answers.size() && i < calls_.size(); ++i) {
      const auto &a = answers[i];
      const auto *b = calls_[i].backend;
      if (!a.ok || a.status != 200) continue; // a backend that fails is left out, as upstream
      std::string err;
      auto result = result_of(messages_of(a), "\"aigw-initialize\"", &err);
      if (!result) continue;
      dom::parser p;
      dom::element doc, caps;
      if (p.parse(*result).get(doc)) continue;
      BackendSession bs;
      bs.backend = b->name;
      bs.session_id = a.session_id;
      bs.caps = doc["capabilities"].get(caps) ? 0 : capability_bits(caps);
      s.backends.push_back(bs);
      init_results_.push_back(*result);
      next.push_back(call(*b, rpc_request("", "notifications/initialized", ""), a.session_id));
    }
    if (s.backends.empty())
      return text(500, "failed to create new session: failed to create MCP session to any backend");
    session_ = std::move(s);
    client_session_id_ = crypto_.encrypt(encode_session(*session_));
    phase_ = Phase::kInitialized;
    calls_ = next;
    return next;
  }
  case Phase::kInitialized: return initialized(answers);
  case Phase::kFanOut: return fan_out_reply(answers);
  case Phase::kSingle: return single_reply(answers.at(0));
  case Phase::kDelete: return deleted();
  case Phase::kAnswer: return single_reply(answers.at(0));
  case Phase::kListen: {
    Reply r = stream_head(); // every backend's stream has ended: so does the client's
    r.body.clear();
    return r;
  }
  case Phase::kNone: break;
  }
  return text(500, "internal error: no request in flight");
}

Exchange::Step Exchange::initialized(std::vector<BackendAnswer> &answers) {
  // Backends that did not take notifications/initialized are dropped from the session.
  ClientSession kept = *session_;
  kept.backends.clear();
  uint16_t bits = 0;
  std::string negotiated = std::find(std::begin(kProtocolVersions), std::end(kProtocolVersions),
                                     client_version_) != std::end(kProtocolVersions)
                               ? client_version_
                               : std::string(kDefaultProtocolVersion);
  for (size_t i = 0; i < session_->backends.size() && i < answers.size(); ++i) {
    const auto &a = answers[i];
    if (!a.ok || a.status < 200 || a.status > 299) continue;
    kept.backends.push_back(session_->backends[i]);
    bits |= session_->backends[i].caps;
    // The version is the oldest any backend settled on, so every one of them speaks it.
    dom::parser p;
    dom::element doc;
    std::string_view v;
    if (!p.parse(init_results_[i]).get(doc) && !doc["protocolVersion"].get_string().get(v) &&
        std::string_view(negotiated) > v &&
        std::find(std::begin(kProtocolVersions), std::end(kProtocolVersions), v) !=
            std::end(kProtocolVersions))
      negotiated = std::string(v);
  }
  if (kept.backends.empty())
    return text(500, "failed to create new session: failed to create MCP session to any backend");
  merged_caps_ = bits;
  if (kept.backends.size() != session_->backends.size()) {
    session_ = std::move(kept);
    client_session_id_ = crypto_.encrypt(encode_session(*session_));
  }
  std::string result = "{\"protocolVersion\":" + json::quoted(negotiated) +
                       ",\"capabilities\":" + capabilities_json(bits) +
                       ",\"serverInfo\":{\"name\":\"aigw\",\"version\":" + json::quoted(version_) +
                       "}}";
  Reply r;
  r.body = rpc_result(id_raw_.empty() ? "null" : id_raw_, result);
  r.headers.emplace_back("mcp-session-id", client_session_id_);
  return r;
}

// --- lists, fanned out ---------------------------------------------------------------------

Exchange::Step Exchange::fan_out(std::string_view params, uint16_t capability) {
  std::vector<BackendCall> calls;
  for (const auto &bs : session_->backends)
    if (const auto *b = route_.backend(bs.backend); b && (bs.caps & capability))
      calls.push_back(call(*b, rpc_request(id_raw_, rpc_method_, params), bs.session_id));
  phase_ = Phase::kFanOut;
  calls_ = calls;
  if (calls.empty()) {
    std::vector<BackendAnswer> none;
    return fan_out_reply(none);
  }
  return calls;
}

namespace {

// The name a backend's tool or prompt has for the client.
std::string exposed(const control::CompiledMCPBackend &b, std::string_view name, bool bare) {
  return bare ? std::string(name) : b.name + std::string(kSeparator) + std::string(name);
}

void append_items(std::string &out, dom::element result, const char *list,
                  const control::CompiledMCPBackend &b, std::string_view method,
                  const std::function<bool(std::string_view)> &allowed) {
  dom::array items;
  if (result[list].get_array().get(items)) return;
  for (dom::element item : items) {
    dom::object o;
    if (item.get_object().get(o)) continue;
    std::string_view name = str_of(item["name"]);
    std::string entry;
    if (method == "tools/list") {
      if (!b.tools.keeps(name) || (allowed && !allowed(name))) continue;
      // prefixMode Never: the backend's named tools, bare.
      bool bare = b.prefix_never && std::find(b.tools.include.begin(), b.tools.include.end(),
                                              name) != b.tools.include.end();
      entry = with_field(o, "name", json::quoted(exposed(b, name, bare)));
    } else if (method == "prompts/list") {
      if (!b.prompts.keeps(name)) continue;
      bool bare = b.prefix_never && std::find(b.prompts.include.begin(), b.prompts.include.end(),
                                              name) != b.prompts.include.end();
      entry = with_field(o, "name", json::quoted(exposed(b, name, bare)));
    } else {
      // resources keep their prefix always; a template's uriTemplate is rewritten like a URI
      const char *uri_key = method == "resources/list" ? "uri" : "uriTemplate";
      std::string named = with_field(o, "name", json::quoted(exposed(b, name, false)));
      dom::parser p;
      dom::object renamed;
      if (p.parse(named).get_object().get(renamed)) continue;
      entry =
          with_field(renamed, uri_key, json::quoted(downstream_uri(b.name, str_of(item[uri_key]))));
    }
    if (out.back() != '[') out += ',';
    out += entry;
  }
}

} // namespace

Exchange::Step Exchange::fan_out_reply(std::vector<BackendAnswer> &answers) {
  const char *list = rpc_method_ == "tools/list"                 ? "tools"
                     : rpc_method_ == "prompts/list"             ? "prompts"
                     : rpc_method_ == "resources/list"           ? "resources"
                     : rpc_method_ == "resources/templates/list" ? "resourceTemplates"
                                                                 : nullptr;
  Reply r;
  r.headers.emplace_back("mcp-session-id", session_header());
  if (id_raw_.empty()) { // a notification: nothing to answer
    r.status = 202;
    r.content_type = "text/plain; charset=utf-8";
    return r;
  }
  std::string merged = list ? "{\"" + std::string(list) + "\":[" : "{";
  for (size_t i = 0; i < answers.size() && i < calls_.size(); ++i) {
    const auto &a = answers[i];
    if (!a.ok || a.status != 200 || !list) continue; // a failing backend contributes nothing
    std::string err;
    auto result = result_of(messages_of(a), id_raw_, &err);
    if (!result) continue;
    dom::parser p;
    dom::element doc;
    if (p.parse(*result).get(doc)) continue;
    const auto *b = calls_[i].backend;
    std::function<bool(std::string_view)> allowed;
    if (route_.authorization) // hidden: the tools the caller may not call
      allowed = [&](std::string_view tool) { return authorize(b->name, tool).allow; };
    append_items(merged, doc, list, *b, rpc_method_, allowed);
  }
  merged += list ? "]}" : "}";
  // As upstream: the merged answer is one server-sent event.
  r.content_type = "text/event-stream";
  r.headers.emplace_back("cache-control", "no-cache");
  r.body = sse_event(rpc_result(id_raw_, merged));
  return r;
}

// --- calls to one backend ------------------------------------------------------------------

Exchange::Step Exchange::single_call(std::string_view params) {
  dom::parser p;
  dom::element doc;
  if (params.empty() || p.parse(params.data(), params.size()).get(doc) || !doc.is_object())
    return text(400, "invalid params");
  dom::object o = doc.get_object().value();
  std::string upstream_params;
  const control::CompiledMCPBackend *b = nullptr;
  auto find_backend = [&](const std::string &name) -> std::optional<Reply> {
    b = route_.backend(name);
    if (!b) return text(404, "unknown backend " + name);
    return std::nullopt;
  };
  if (rpc_method_ == "tools/call" || rpc_method_ == "prompts/get") {
    bool tool = rpc_method_ == "tools/call";
    std::string name(str_of(doc["name"]));
    std::string what = tool ? "tool" : "prompt";
    std::string backend, upstream;
    // A bare name: a tool a prefixMode Never backend names.
    for (const auto &cand : route_.backends) {
      const auto &sel = tool ? cand->tools : cand->prompts;
      if (cand->prefix_never &&
          std::find(sel.include.begin(), sel.include.end(), name) != sel.include.end()) {
        backend = cand->name;
        upstream = name;
        break;
      }
    }
    if (backend.empty()) {
      size_t sep = name.find(kSeparator);
      if (sep == std::string::npos)
        return text(400, "invalid " + what + " name " + name + ": invalid resource name: " + name);
      backend = name.substr(0, sep);
      upstream = name.substr(sep + kSeparator.size());
    }
    if (auto refusal = find_backend(backend)) return *refusal;
    if (!(tool ? b->tools : b->prompts).keeps(upstream))
      return text(400, "invalid " + what + " name: " + upstream);
    if (tool) tool_ = upstream;
    if (tool && route_.authorization) {
      auto d = authorize(b->name, upstream, params);
      if (!d.allow) {
        Reply denied = text(403, "access denied");
        if (!d.missing_scopes.empty()) {
          std::string scopes;
          for (const auto &s : d.missing_scopes)
            scopes += (scopes.empty() ? "" : " ") + s;
          std::string v = "Bearer error=\"insufficient_scope\", scope=\"" + scopes + "\"";
          if (!route_.resource_metadata_url.empty())
            v += ", resource_metadata=\"" + route_.resource_metadata_url + "\"";
          v += ", error_description=\"The token is missing required scopes\"";
          denied.headers.emplace_back("www-authenticate", v);
        }
        return denied;
      }
    }
    upstream_params = with_field(o, "name", json::quoted(upstream));
  } else if (rpc_method_ == "completion/complete") {
    dom::object ref;
    if (doc["ref"].get_object().get(ref)) return text(400, "invalid params");
    std::string_view type = str_of(doc["ref"]["type"]);
    std::string new_ref;
    if (type == "ref/prompt") {
      std::string name(str_of(doc["ref"]["name"]));
      size_t sep = name.find(kSeparator);
      if (sep == std::string::npos)
        return text(400, "invalid resource name " + name + ": invalid resource name: " + name);
      if (auto refusal = find_backend(name.substr(0, sep))) return *refusal;
      new_ref = with_field(ref, "name", json::quoted(name.substr(sep + kSeparator.size())));
    } else if (type == "ref/resource") {
      std::string uri(str_of(doc["ref"]["uri"]));
      auto up = upstream_uri(uri);
      if (!up) return text(400, "invalid resource name " + uri + ": invalid resource URI: " + uri);
      if (auto refusal = find_backend(up->first)) return *refusal;
      new_ref = with_field(ref, "uri", json::quoted(up->second));
    } else {
      return text(404, "unknown backend ");
    }
    upstream_params = with_field(o, "ref", new_ref);
  } else { // resources/read, subscribe, unsubscribe
    std::string uri(str_of(doc["uri"]));
    auto up = upstream_uri(uri);
    if (!up) return text(400, "invalid resource name " + uri + ": invalid resource URI: " + uri);
    if (auto refusal = find_backend(up->first)) return *refusal;
    upstream_params = with_field(o, "uri", json::quoted(up->second));
  }
  const BackendSession *bs = session_->find(b->name);
  if (!bs) return text(403, "no MCP session found for backend " + b->name);
  single_ = b;
  phase_ = Phase::kSingle;
  calls_ = {call(*b, rpc_request(id_raw_, rpc_method_, upstream_params), bs->session_id)};
  return calls_;
}

std::string Exchange::downstream_message(std::string_view json_text,
                                         const control::CompiledMCPBackend &b) {
  dom::parser p;
  dom::element doc;
  if (p.parse(json_text.data(), json_text.size()).get(doc) || !doc.is_object())
    return std::string(json_text);
  dom::object msg = doc.get_object().value();
  dom::element err;
  if (!doc["error"].get(err)) rpc_error_ = true;
  if (str_of(doc["method"]) == "notifications/progress") ++progress_;
  dom::object result;
  if (doc["result"].get_object().get(result)) {
    // A notification of an updated resource names it as the client knows it.
    dom::object params;
    if (str_of(doc["method"]) == "notifications/resources/updated" &&
        !doc["params"].get_object().get(params))
      return with_field(
          msg, "params",
          with_field(params, "uri",
                     json::quoted(downstream_uri(b.name, str_of(doc["params"]["uri"])))));
    return std::string(json_text);
  }
  bool is_error = false;
  if (rpc_method_ == "tools/call" && !result["isError"].get_bool().get(is_error) && is_error)
    tool_failed_ = true;
  // Results that name resources: resources/read contents, tools/call resource links.
  auto rewrite_list = [&](const char *key, bool nested) -> std::optional<std::string> {
    dom::array items;
    if (result[key].get_array().get(items)) return std::nullopt;
    std::string out = "[";
    for (dom::element item : items) {
      if (out.size() > 1) out += ',';
      dom::object io;
      if (item.get_object().get(io)) {
        out += minify(item);
        continue;
      }
      std::string_view type = str_of(item["type"]);
      if (!nested && !str_of(item["uri"]).empty()) {
        out += with_field(io, "uri", json::quoted(downstream_uri(b.name, str_of(item["uri"]))));
      } else if (nested && type == "resource_link") {
        out += with_field(io, "uri", json::quoted(downstream_uri(b.name, str_of(item["uri"]))));
      } else if (nested && type == "resource") {
        dom::object res;
        if (!item["resource"].get_object().get(res) && !str_of(item["resource"]["uri"]).empty())
          out += with_field(
              io, "resource",
              with_field(res, "uri",
                         json::quoted(downstream_uri(b.name, str_of(item["resource"]["uri"])))));
        else
          out += minify(item);
      } else {
        out += minify(item);
      }
    }
    return out + "]";
  };
  std::optional<std::string> list;
  const char *key = nullptr;
  if (rpc_method_ == "resources/read") {
    key = "contents";
    list = rewrite_list(key, false);
  } else if (rpc_method_ == "tools/call") {
    key = "content";
    list = rewrite_list(key, true);
  }
  if (!list) return std::string(json_text);
  return with_field(msg, "result", with_field(result, key, *list));
}

Exchange::Step Exchange::single_reply(BackendAnswer &a) {
  if (!a.ok) return text(500, "call to " + single_->name + " failed: " + a.error);
  // The backend no longer knows the session (restarted, or closed): a 404 tells the client to
  // initialize again, as the spec has it.
  if (a.status == 404 && phase_ != Phase::kAnswer)
    return text(404, "session not found at " + single_->name);
  if (a.status < 200 || a.status > 299)
    return text(500, "call to " + single_->name + " failed with status code " +
                         std::to_string(a.status) + ", body=" + a.body);
  Reply r;
  r.status = a.status;
  r.headers.emplace_back("mcp-session-id", session_header());
  if (a.status == 202 || a.body.empty()) {
    r.content_type = "text/plain; charset=utf-8";
    return r;
  }
  auto messages = messages_of(a);
  if (is_json(a.content_type)) {
    r.body = messages.empty() ? a.body : downstream_message(messages.front(), *single_);
    return r;
  }
  r.content_type = "text/event-stream";
  r.headers.emplace_back("cache-control", "no-cache");
  for (const auto &m : messages)
    r.body += sse_event(downstream_message(m, *single_));
  return r;
}

// --- streams: the notification stream, relayed answers, requests a server makes ------------

std::string encode_server_request_id(std::string_view id_json, std::string_view backend) {
  std::string enc, type;
  if (!id_json.empty() && id_json.front() == '"') {
    dom::parser p;
    dom::element e;
    std::string_view s;
    if (!p.parse(id_json.data(), id_json.size()).get(e) && !e.get_string().get(s))
      enc = base64_encode(s);
    type = "s";
  } else if (id_json.find_first_of(".eE") == std::string_view::npos) {
    enc = std::string(id_json);
    type = "i";
  } else {
    double v = std::strtod(std::string(id_json).c_str(), nullptr);
    unsigned char bytes[8];
    std::memcpy(bytes, &v, 8); // little-endian hosts, as upstream writes it
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned char b : bytes) {
      enc += kHex[b >> 4];
      enc += kHex[b & 15];
    }
    type = "f";
  }
  return enc + "__" + type + "__" + std::string(backend);
}

std::optional<std::pair<std::string, std::string>> decode_server_request_id(std::string_view id) {
  size_t a = id.find(kSeparator);
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = id.find(kSeparator, a + 2);
  if (b == std::string_view::npos || id.find(kSeparator, b + 2) != std::string_view::npos)
    return std::nullopt;
  std::string_view enc = id.substr(0, a), type = id.substr(a + 2, b - a - 2);
  std::string backend(id.substr(b + 2));
  if (backend.empty()) return std::nullopt;
  if (type == "i") {
    if (enc.empty() || enc.find_first_not_of("-0123456789") != std::string_view::npos)
      return std::nullopt;
    return std::pair(backend, std::string(enc));
  }
  if (type == "s") {
    auto s = base64_decode(enc);
    if (!s) return std::nullopt;
    return std::pair(backend, json::quoted(*s));
  }
  if (type == "f" && enc.size() == 16) {
    unsigned char bytes[8];
    for (size_t i = 0; i < 8; ++i) {
      auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
      bytes[i] = static_cast<unsigned char>(hex(enc[2 * i]) * 16 + hex(enc[2 * i + 1]));
    }
    double v;
    std::memcpy(&v, bytes, 8);
    char buf[40];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr; // the shortest exact form
    return std::pair(backend, std::string(buf, end));
  }
  return std::nullopt;
}

Exchange::Step Exchange::client_answer(std::string_view id_raw, std::string_view body) {
  Reply absorbed;
  absorbed.status = 202;
  absorbed.content_type = "text/plain; charset=utf-8";
  absorbed.headers.emplace_back("mcp-session-id", session_header());
  // The gateway's own pings and notices: nothing to relay.
  if (id_raw.starts_with("\"aigw-server-to-client-")) return absorbed;
  std::string id;
  if (id_raw.size() >= 2 && id_raw.front() == '"')
    id = json::unescape(id_raw.substr(1, id_raw.size() - 2));
  if (id.empty()) return text(400, "invalid response ID type: " + std::string(id_raw));
  auto decoded = decode_server_request_id(id);
  if (!decoded) return text(400, "invalid response ID format: " + id);
  const auto *b = route_.backend(decoded->first);
  if (!b) return text(404, "unknown backend " + decoded->first);
  const BackendSession *bs = session_->find(b->name);
  if (!bs) return text(403, "no MCP session found for backend " + b->name);
  dom::parser p;
  dom::element doc, result, error;
  if (p.parse(body.data(), body.size()).get(doc) || !doc.is_object())
    return text(400, "invalid JSON-RPC message: not a JSON object");
  // Only an answer is relayed, rebuilt from its parts: a body that also names a method (a
  // duplicate "method" key) must not reach the server as a request that no rule judged.
  bool has_result = !doc["result"].get(result), has_error = !doc["error"].get(error);
  if (has_result == has_error || doc["method"].error() != simdjson::NO_SUCH_FIELD ||
      has_duplicate_keys(doc))
    return text(400, "invalid JSON-RPC message: not a response");
  std::string answer =
      "{\"jsonrpc\":\"2.0\",\"id\":" + decoded->second + "," +
      (has_result ? "\"result\":" + minify(result) : "\"error\":" + minify(error)) + "}";
  single_ = b;
  phase_ = Phase::kAnswer;
  calls_ = {call(*b, std::move(answer), bs->session_id)};
  return calls_;
}

Exchange::Step Exchange::listen() {
  rpc_method_ = "GET";
  // A resumed stream: each backend gets its own last event id back.
  std::vector<std::pair<std::string, std::string>> resume;
  if (auto last = headers_ ? headers_("last-event-id") : std::nullopt; last && !last->empty()) {
    auto plain = crypto_.decrypt(*last);
    if (!plain) return text(400, "invalid session ID: failed to decrypt last event ID");
    std::string_view rest = *plain;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view part = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      size_t colon = part.find(':');
      if (colon == std::string_view::npos || colon == 0) continue;
      auto id = base64_decode(part.substr(colon + 1));
      if (id) resume.emplace_back(std::string(part.substr(0, colon)), *id);
    }
  }
  last_event_ids_ = resume;
  std::vector<BackendCall> calls;
  for (const auto &bs : session_->backends) {
    const auto *b = route_.backend(bs.backend);
    if (!b) continue;
    auto c = call(*b, "", bs.session_id, "GET");
    for (const auto &[name, id] : resume)
      if (name == b->name && !id.empty()) c.headers.emplace_back("last-event-id", id);
    calls.push_back(std::move(c));
  }
  phase_ = Phase::kListen;
  calls_ = calls;
  return calls;
}

Reply Exchange::stream_head() const {
  Reply r;
  r.status = phase_ == Phase::kListen ? 202 : 200; // upstream answers a GET with 202
  r.content_type = "text/event-stream";
  r.headers.emplace_back("mcp-session-id", client_session_id_);
  r.headers.emplace_back("cache-control", "no-cache");
  return r;
}

std::string Exchange::heartbeat() {
  return sse_event(R"({"jsonrpc":"2.0","id":"aigw-server-to-client-ping)" +
                   pipeline::make_request_id() + R"(","method":"ping","params":{}})");
}

std::string Exchange::tools_changed() {
  return sse_event(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}})");
}

std::string Exchange::stream_events(size_t i, std::string_view chunk) {
  if (streams_.size() < calls_.size()) streams_.resize(calls_.size());
  std::string out;
  auto &st = streams_.at(i);
  st.lines.feed(chunk, [&](std::string_view line) {
    if (line.empty()) {
      if (st.has_data) out += relay_event(i, st.data, st.id);
      st.data.clear();
      st.id.clear();
      st.has_data = false;
      return;
    }
    auto f = sse::parse_field(line);
    if (f.name == "data") {
      if (st.data.size() + f.value.size() + 1 > kMaxEventData) {
        stream_overflow_ = true; // an event that never ends: the stream is refused, not kept
        return;
      }
      if (st.has_data) st.data += '\n';
      st.data.append(f.value);
      st.has_data = true;
    } else if (f.name == "id") {
      st.id = std::string(f.value);
    }
  });
  return out;
}

std::string Exchange::relay_event(size_t i, const std::string &data, const std::string &id) {
  const auto &b = *calls_.at(i).backend;
  std::string message;
  dom::parser p;
  dom::element doc, rid, method;
  if (!p.parse(data).get(doc) && doc.is_object() && !doc["id"].get(rid) && !rid.is_null() &&
      !doc["method"].get(method)) {
    // A request the server makes of the client (sampling, elicitation, roots, ping): its id
    // names the backend, so that the answer is routed back to it.
    message = with_field(doc.get_object().value(), "id",
                         json::quoted(encode_server_request_id(minify(rid), b.name)));
  } else {
    message = downstream_message(data, b);
  }
  std::string out = "event: message\n";
  if (!id.empty()) {
    bool found = false;
    for (auto &[name, last] : last_event_ids_)
      if (name == b.name) {
        last = id;
        found = true;
      }
    if (!found) last_event_ids_.emplace_back(b.name, id);
    std::string composite;
    for (const auto &[name, last] : last_event_ids_) {
      if (!composite.empty()) composite += ',';
      composite += name + ":" + base64_encode(last);
    }
    out += "id: " + crypto_.encrypt(composite) + "\n";
  }
  return out + "data: " + message + "\n\n";
}

std::vector<std::string> Exchange::server_capabilities() const {
  std::vector<std::string> out;
  if (merged_caps_ & kTools) out.emplace_back("tools");
  if (merged_caps_ & kPrompts) out.emplace_back("prompts");
  if (merged_caps_ & kResources) out.emplace_back("resources");
  if (merged_caps_ & kLogging) out.emplace_back("logging");
  if (merged_caps_ & kCompletions) out.emplace_back("completions");
  return out;
}

} // namespace aigw::mcp
