// filterapi mcpConfig → the MCP routes both hosts serve; see mcp_config.h.
#include "extproc/mcp_config.h"

#include <algorithm>
#include <regex>

namespace aigw::extproc {
namespace {

std::string str(const YAML::Node &n, const char *k) {
  return n && n.IsMap() && n[k] && n[k].IsScalar() ? n[k].Scalar() : std::string();
}

std::vector<std::string> strings(const YAML::Node &n) {
  std::vector<std::string> out;
  if (n && n.IsSequence())
    for (const auto &e : n)
      if (e.IsScalar()) out.push_back(e.Scalar());
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The child `k` of a map, or an undefined node (never a throwing "zombie").
YAML::Node at(const YAML::Node &n, const char *k) {
  if (n && n.IsMap() && n[k]) return n[k];
  return YAML::Node(YAML::NodeType::Undefined);
}

Result<control::CompiledMCPSelector> selector(const YAML::Node &n, const std::string &where) {
  api::MCPNameSelector s;
  if (!n || !n.IsMap()) return control::compile_mcp_selector(s);
  s.include = strings(n["include"]);
  s.include_regex = strings(n["includeRegex"]);
  s.exclude = strings(n["exclude"]);
  s.exclude_regex = strings(n["excludeRegex"]);
  for (const auto &[field, list] :
       {std::pair{"includeRegex", &s.include_regex}, {"excludeRegex", &s.exclude_regex}})
    for (size_t i = 0; i < list->size(); ++i) {
      if ((*list)[i].size() > 1024)
        return Error::config(where + "." + field + "[" + std::to_string(i) +
                             "]: longer than 1024 characters");
      try {
        std::regex check((*list)[i], std::regex::ECMAScript);
      } catch (const std::regex_error &e) {
        return Error::config(where + "." + field + "[" + std::to_string(i) + "]: invalid regex \"" +
                             (*list)[i] + "\": " + e.what());
      }
    }
  return control::compile_mcp_selector(s);
}

// backendListenerAddr: http(s)://host[:port][/path].
Result<bool> listener(const std::string &addr, control::CompiledMCPBackend &b) {
  std::string rest;
  bool tls = false;
  if (addr.rfind("http://", 0) == 0) {
    rest = addr.substr(7);
  } else if (addr.rfind("https://", 0) == 0) {
    rest = addr.substr(8);
    tls = true;
  } else {
    return Error::config("mcpConfig.backendListenerAddr: expected http://HOST:PORT, got \"" + addr +
                         "\"");
  }
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  b.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host = hostport;
  uint16_t port = tls ? 443 : 80;
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']') == std::string::npos) {
    host = hostport.substr(0, colon);
    int p = std::atoi(hostport.c_str() + colon + 1);
    if (p <= 0 || p > 65535)
      return Error::config("mcpConfig.backendListenerAddr: bad port in \"" + addr + "\"");
    port = static_cast<uint16_t>(p);
  } else if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':')
      port = static_cast<uint16_t>(std::atoi(hostport.c_str() + close + 2));
  }
  if (host.empty())
    return Error::config("mcpConfig.backendListenerAddr: no host in \"" + addr + "\"");
  bool is_ip = host.find(':') != std::string::npos ||
               host.find_first_not_of("0123456789.") == std::string::npos;
  b.endpoints.push_back({host, port, is_ip});
  b.tls.enabled = tls;
  if (tls && !is_ip) b.tls.sni = host;
  b.host_header = hostport;
  return true;
}

Result<api::MCPRouteAuthorization>
authorization(const YAML::Node &n, const std::string &where,
              std::vector<std::optional<mcp::cel::Program>> &cel) {
  api::MCPRouteAuthorization a;
  a.default_allow = str(n, "defaultAction") == "Allow";
  const YAML::Node rules = at(n, "rules");
  for (size_t i = 0; rules && rules.IsSequence() && i < rules.size(); ++i) {
    const YAML::Node r = rules[i];
    std::string where_r = where + ".rules[" + std::to_string(i) + "]";
    api::MCPAuthorizationRule rule;
    rule.allow = str(r, "action") != "Deny";
    rule.cel = str(r, "cel");
    if (r["source"]) {
      rule.has_source = true;
      const YAML::Node jwt = at(r["source"], "jwt");
      rule.scopes = strings(at(jwt, "scopes"));
      const YAML::Node claims = at(jwt, "claims");
      for (size_t k = 0; claims && claims.IsSequence() && k < claims.size(); ++k) {
        const YAML::Node c = claims[k];
        api::MCPAuthorizationRule::Claim claim;
        claim.name = str(c, "name");
        claim.array = str(c, "valueType") == "StringArray";
        claim.values = strings(at(c, "values"));
        rule.claims.push_back(std::move(claim));
      }
    }
    const YAML::Node tools = at(at(r, "target"), "tools");
    for (size_t k = 0; tools && tools.IsSequence() && k < tools.size(); ++k)
      rule.tools.emplace_back(str(tools[k], "backend"), str(tools[k], "tool"));
    if (rule.cel.empty()) {
      cel.emplace_back();
    } else {
      auto program = mcp::cel::Program::compile(rule.cel);
      if (!program) return Error::config(where_r + ".cel: " + program.error().message);
      cel.emplace_back(std::move(*program));
    }
    a.rules.push_back(std::move(rule));
  }
  return a;
}

Result<control::CompiledMCPRoute> route(const YAML::Node &r, const std::string &where,
                                        const std::string &listener_addr) {
  control::CompiledMCPRoute cr;
  cr.key = str(r, "name");
  if (cr.key.find('/') == std::string::npos)
    return Error::config(where + ".name: expected namespace/name, got \"" + cr.key + "\"");
  cr.name = cr.key.substr(cr.key.find('/') + 1);
  cr.path = "/";
  cr.behind_envoy = true;
  std::vector<api::MCPForwardHeader> route_forward;
  for (const auto &h : strings(at(r, "forwardHeaders")))
    route_forward.push_back({lower(h), ""});
  const YAML::Node backends = at(r, "backends");
  for (size_t j = 0; backends && j < backends.size(); ++j) {
    const YAML::Node b = backends[j];
    std::string where_b = where + ".backends[" + std::to_string(j) + "]";
    auto cb = std::make_shared<control::CompiledMCPBackend>();
    cb->name = str(b, "name");
    if (cb->name.empty()) return Error::config(where_b + ".name: required");
    auto l = listener(listener_addr, *cb);
    if (!l) return l.error();
    auto tools = selector(at(b, "toolSelector"), where_b + ".toolSelector");
    if (!tools) return tools.error();
    cb->tools = std::move(*tools);
    auto prompts = selector(at(b, "promptSelector"), where_b + ".promptSelector");
    if (!prompts) return prompts.error();
    cb->prompts = std::move(*prompts);
    cb->prefix_never = str(b, "prefixMode") == "Never";
    const YAML::Node fh = at(b, "forwardHeaders");
    for (size_t k = 0; fh && fh.IsSequence() && k < fh.size(); ++k)
      cb->forward_headers.push_back(
          {lower(str(fh[k], "name")), lower(str(fh[k], "backendHeader"))});
    for (const auto &f : route_forward)
      cb->forward_headers.push_back(f);
    cb->upstream.key = "mcp/" + cr.key + "/" + cb->name;
    cb->upstream.name = cb->name;
    cb->upstream.endpoints = cb->endpoints;
    cb->upstream.tls = cb->tls;
    cb->upstream.host_header = cb->host_header;
    cr.backends.push_back(std::move(cb));
  }
  if (const YAML::Node az = at(r, "authorization")) {
    auto a = authorization(az, where + ".authorization", cr.rule_cel);
    if (!a) return a.error();
    cr.authorization = std::make_shared<api::MCPRouteAuthorization>(std::move(*a));
    cr.resource_metadata_url = str(az, "resourceMetadataURL");
  }
  if (const YAML::Node s = at(r, "backendSelector")) {
    cr.has_backend_selector = true;
    cr.backend_selector_default_allow = str(s, "defaultAction") == "Allow";
    const YAML::Node rules = at(s, "rules");
    for (size_t i = 0; rules && rules.IsSequence() && i < rules.size(); ++i) {
      auto program = mcp::cel::Program::compile(str(rules[i], "cel"));
      if (!program)
        return Error::config(where + ".backendSelector.rules[" + std::to_string(i) +
                             "].cel: " + program.error().message);
      cr.backend_selector.emplace_back(std::move(*program), str(rules[i], "action") != "Deny");
    }
  }
  return cr;
}

} // namespace

Result<std::vector<control::CompiledMCPRoute>> parse_mcp_config(const YAML::Node &mcp) {
  std::vector<control::CompiledMCPRoute> out;
  if (!mcp || !mcp.IsMap()) return out;
  try {
    std::string addr = str(mcp, "backendListenerAddr");
    const YAML::Node routes = at(mcp, "routes");
    if (routes && routes.size() && addr.empty())
      return Error::config("mcpConfig.backendListenerAddr: required");
    for (size_t i = 0; routes && routes.IsSequence() && i < routes.size(); ++i) {
      auto r = route(routes[i], "mcpConfig.routes[" + std::to_string(i) + "]", addr);
      if (!r) return r.error();
      out.push_back(std::move(*r));
    }
  } catch (const YAML::Exception &e) {
    return Error::config(std::string("mcpConfig: ") + e.what());
  }
  return out;
}

} // namespace aigw::extproc
