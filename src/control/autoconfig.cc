// Environment autoconfiguration; see autoconfig.h.
#include "control/autoconfig.h"

#include "core/json_scan.h"

#include <arpa/inet.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

namespace aigw::control {
namespace {

struct BaseUrl {
  bool tls = true;
  std::string host;
  uint16_t port = 443;
  std::string path;
  bool is_ip = false;
};

Result<BaseUrl> parse_base_url(const std::string &var, const std::string &url) {
  BaseUrl out;
  std::string rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    out.tls = false;
    out.port = 80;
    rest = url.substr(7);
  } else {
    return Error::config(var + ": unsupported scheme in \"" + url + "\" (use http:// or https://)");
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "" : rest.substr(slash);
  if (auto q = out.path.find_first_of("?#"); q != std::string::npos) out.path.resize(q);
  while (!out.path.empty() && out.path.back() == '/')
    out.path.pop_back();
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return Error::config(var + ": bad IPv6 address");
    out.host = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);
    if (authority.starts_with(":")) {
      out.port = static_cast<uint16_t>(std::stoi(authority.substr(1)));
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string::npos) {
      try {
        int p = std::stoi(authority.substr(colon + 1));
        if (p <= 0 || p > 65535) throw std::out_of_range("port");
        out.port = static_cast<uint16_t>(p);
      } catch (const std::exception &) {
        return Error::config(var + ": invalid port in \"" + url + "\"");
      }
      out.host = authority.substr(0, colon);
    } else {
      out.host = authority;
    }
  }
  if (out.host.empty()) return Error::config(var + ": missing hostname in \"" + url + "\"");
  unsigned char buf[16];
  out.is_ip = inet_pton(AF_INET, out.host.c_str(), buf) == 1 ||
              inet_pton(AF_INET6, out.host.c_str(), buf) == 1;
  return out;
}

// The one provider the environment names, as upstream picks it: OpenAI or Azure OpenAI first,
// else Anthropic.
struct Provider {
  std::string name;        // backend and secret names
  std::string schema;      // OpenAI, AzureOpenAI, Anthropic
  std::string version;     // AzureOpenAI's api-version
  std::string key_env;     // the variable holding the key
  std::string policy_type; // APIKey, AzureAPIKey, AnthropicAPIKey
  std::string url_env;
  std::string url;
};

Result<Provider> provider_from(const EnvLookup &env) {
  auto set = [&](const char *name) {
    auto v = env(name);
    return v && !v->empty();
  };
  Provider p;
  if (set("AZURE_OPENAI_API_KEY")) {
    p = {"openai",
         "AzureOpenAI",
         "",
         "AZURE_OPENAI_API_KEY",
         "AzureAPIKey",
         "AZURE_OPENAI_ENDPOINT",
         env("AZURE_OPENAI_ENDPOINT").value_or("")};
    if (p.url.empty())
      return Error::config("AZURE_OPENAI_ENDPOINT environment variable is required when "
                           "AZURE_OPENAI_API_KEY is set");
    p.version = env("OPENAI_API_VERSION").value_or("");
    if (p.version.empty())
      return Error::config("OPENAI_API_VERSION environment variable is required when "
                           "AZURE_OPENAI_API_KEY is set");
  } else if (set("OPENAI_API_KEY")) {
    p = {"openai",
         "OpenAI",
         "",
         "OPENAI_API_KEY",
         "APIKey",
         "OPENAI_BASE_URL",
         env("OPENAI_BASE_URL").value_or("")};
    if (p.url.empty()) p.url = "https://api.openai.com/v1";
  } else if (set("ANTHROPIC_API_KEY")) {
    p = {"anthropic",
         "Anthropic",
         "",
         "ANTHROPIC_API_KEY",
         "AnthropicAPIKey",
         "ANTHROPIC_BASE_URL",
         env("ANTHROPIC_BASE_URL").value_or("")};
    if (p.url.empty()) p.url = "https://api.anthropic.com/v1";
  } else {
    return Error::config(
        "no configuration file given: you must supply at least OPENAI_API_KEY, "
        "AZURE_OPENAI_API_KEY, ANTHROPIC_API_KEY, or a config file path (aigw run config.yaml)");
  }
  return p;
}

} // namespace

Result<std::string> mcp_servers_yaml(std::string_view json) {
  namespace dom = simdjson::dom;
  dom::parser parser;
  dom::element doc;
  dom::object servers;
  if (parser.parse(json.data(), json.size()).get(doc) ||
      doc["mcpServers"].get_object().get(servers))
    return Error::config(
        "MCP servers configuration: not a JSON object with an \"mcpServers\" object");
  std::map<std::string, dom::element> sorted;
  for (auto [name, v] : servers)
    sorted.emplace(std::string(name), v);
  std::string route, rest;
  for (const auto &[name, s] : sorted) {
    std::string where = "MCP servers configuration: mcpServers." + name;
    bool dns = !name.empty() && name.size() <= 63 && name.find("__") == std::string::npos &&
               std::all_of(name.begin(), name.end(), [](char c) {
                 return std::islower(static_cast<unsigned char>(c)) ||
                        std::isdigit(static_cast<unsigned char>(c)) || c == '-';
               });
    if (!dns)
      return Error::config(where + ": the name must be lower-case letters, digits and '-' (it "
                                   "prefixes the server's tools)");
    std::string_view type, url;
    if (s["type"].get_string().get(type)) type = {};
    if (s["url"].get_string().get(url)) url = {};
    if (url.empty()) {
      std::string_view command;
      if (!s["command"].get_string().get(command))
        return Error::config(where + ": stdio servers (command) are not served yet; give a "
                                     "Streamable HTTP url");
      return Error::config(where + ".url: is required");
    }
    if (!type.empty() && type != "http" && type != "streamable-http" && type != "streamable_http" &&
        type != "streamableHttp")
      return Error::config(where + ".type: \"" + std::string(type) +
                           "\" is not served (only Streamable HTTP)");
    auto u = parse_base_url(where + ".url", std::string(url));
    if (!u) return u.error();
    // The key: Authorization: Bearer, or another single header.
    std::string key, key_header;
    dom::object headers;
    if (!s["headers"].get_object().get(headers))
      for (auto [h, v] : headers) {
        std::string_view value;
        if (v.get_string().get(value))
          return Error::config(where + ".headers." + std::string(h) + ": must be a string");
        std::string lower_name(h);
        std::transform(lower_name.begin(), lower_name.end(), lower_name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        bool bearer = lower_name == "authorization" && value.starts_with("Bearer ");
        if (!key.empty()) return Error::config(where + ".headers: one header (a key) is served");
        key = std::string(bearer ? value.substr(7) : value);
        if (!bearer) key_header = std::string(h);
      }
    // The path as written (a trailing slash kept: some servers want it), "/" when none.
    std::string_view after = url.substr(url.find("://") + 3);
    size_t slash = after.find('/');
    std::string path = slash == std::string_view::npos ? "/" : std::string(after.substr(slash));
    if (auto q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
    route += "    - name: " + name + "\n      path: " + json::quoted(path) + "\n";
    dom::array include;
    if (!s["includeTools"].get_array().get(include) && include.size() > 0) {
      route += "      toolSelector:\n        include:\n";
      for (dom::element t : include) {
        std::string_view tool;
        if (t.get_string().get(tool))
          return Error::config(where + ".includeTools: must be strings");
        route += "          - " + json::quoted(tool) + "\n";
      }
    }
    if (!key.empty()) {
      route += "      securityPolicy:\n        apiKey:\n          secretRef: {name: " + name +
               "-token}\n";
      if (!key_header.empty()) route += "          header: " + json::quoted(key_header) + "\n";
      rest += "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name +
              "-token\n  namespace: default\ntype: Opaque\nstringData:\n  apiKey: " +
              json::quoted(key) + "\n---\n";
    }
    rest +=
        "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata:\n  name: " + name +
        "\n  namespace: default\nspec:\n  endpoints:\n";
    if (u->is_ip)
      rest += "    - ip:\n        address: " + json::quoted(u->host) +
              "\n        port: " + std::to_string(u->port) + "\n";
    else
      rest += "    - fqdn:\n        hostname: " + json::quoted(u->host) +
              "\n        port: " + std::to_string(u->port) + "\n";
    if (u->tls && u->port != 443) rest += "  tls: {}\n";
    rest += "---\n";
  }
  if (route.empty()) return Error::config("MCP servers configuration: no server in mcpServers");
  return "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: MCPRoute\nmetadata:\n  name: "
         "mcp-route\n"
         "  namespace: default\nspec:\n  parentRefs:\n    - name: aigw-run\n      kind: Gateway\n"
         "      group: gateway.networking.k8s.io\n  path: \"/mcp\"\n  backendRefs:\n" +
         route + "---\n" + rest;
}

Result<std::string> autoconfig_yaml(const EnvLookup &env, std::string_view mcp_servers) {
  std::string mcp;
  if (!mcp_servers.empty()) {
    auto m = mcp_servers_yaml(mcp_servers);
    if (!m) return m.error();
    mcp = std::move(*m);
  }
  auto provider = provider_from(env);
  if (!provider && !mcp.empty()) // MCP servers alone: the Gateway and the MCPRoute
    return "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: "
           "aigw-run\nspec:\n  controllerName: gateway.envoyproxy.io/gatewayclass-controller\n---\n"
           "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: aigw-run\n"
           "  namespace: default\nspec:\n  gatewayClassName: aigw-run\n  listeners:\n"
           "    - name: http\n      protocol: HTTP\n      port: 1975\n---\n" +
           mcp;
  if (!provider) return provider.error();
  const Provider &pv = *provider;
  auto url = parse_base_url(pv.url_env, pv.url);
  if (!url) return url.error();
  const BaseUrl &u = *url;
  const std::string &name = pv.name;

  std::string y;
  y += "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: aigw-run\n"
       "spec:\n  controllerName: gateway.envoyproxy.io/gatewayclass-controller\n---\n";
  y += "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: aigw-run\n"
       "  namespace: default\nspec:\n  gatewayClassName: aigw-run\n  listeners:\n"
       "    - name: http\n      protocol: HTTP\n      port: 1975\n---\n";
  y += "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\nmetadata:\n"
       "  name: aigw-run\n  namespace: default\nspec:\n  parentRefs:\n    - name: aigw-run\n"
       "      kind: Gateway\n      group: gateway.networking.k8s.io\n  rules:\n"
       "    - matches:\n        - headers:\n            - type: RegularExpression\n"
       "              name: x-ai-eg-model\n              value: .*\n      backendRefs:\n"
       "        - name: " +
       name +
       "\n          namespace: default\n      timeouts:\n"
       "        request: 120s\n  llmRequestCosts:\n    - metadataKey: llm_input_token\n"
       "      type: InputToken\n    - metadataKey: llm_output_token\n      type: OutputToken\n"
       "    - metadataKey: llm_reasoning_token\n      type: ReasoningToken\n---\n";
  y += "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata:\n  name: " + name +
       "\n"
       "  namespace: default\nspec:\n  endpoints:\n";
  if (u.is_ip) {
    y += "    - ip:\n        address: " + json::quoted(u.host) +
         "\n        port: " + std::to_string(u.port) + "\n---\n";
  } else {
    y += "    - fqdn:\n        hostname: " + json::quoted(u.host) +
         "\n        port: " + std::to_string(u.port) + "\n---\n";
  }
  // The base URL's path is the prefix every path goes under ("/v1" for api.openai.com, "/api/v1"
  // for OpenRouter), as upstream v1.2 does. Azure puts its paths under /openai itself.
  std::string schema_line = "    name: " + pv.schema + "\n";
  if (pv.schema == "AzureOpenAI")
    schema_line += "    version: " + json::quoted(pv.version) + "\n";
  else
    schema_line += "    prefix: " + json::quoted(u.path.empty() ? "/" : u.path) + "\n";
  y += "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\nmetadata:\n"
       "  name: " +
       name + "\n  namespace: default\nspec:\n  schema:\n" + schema_line +
       "  backendRef:\n    name: " + name +
       "\n    kind: Backend\n    group: gateway.envoyproxy.io\n"
       "    namespace: default\n";
  auto org = env("OPENAI_ORG_ID").value_or("");
  auto project = env("OPENAI_PROJECT_ID").value_or("");
  if (pv.name == "openai" && (!org.empty() || !project.empty())) {
    y += "  headerMutation:\n    set:\n";
    if (!org.empty())
      y += "      - name: OpenAI-Organization\n        value: " + json::quoted(org) + "\n";
    if (!project.empty())
      y += "      - name: OpenAI-Project\n        value: " + json::quoted(project) + "\n";
  }
  y += "---\n";
  if (u.tls) {
    y += "apiVersion: gateway.networking.k8s.io/v1alpha3\nkind: BackendTLSPolicy\nmetadata:\n"
         "  name: " +
         name +
         "-tls\n  namespace: default\nspec:\n  targetRefs:\n"
         "    - group: gateway.envoyproxy.io\n      kind: Backend\n      name: " +
         name +
         "\n"
         "  validation:\n    wellKnownCACertificates: System\n    hostname: " +
         json::quoted(u.host) + "\n---\n";
  }
  // The key is referenced through the environment annotation, so it never sits in the text.
  std::string field = pv.policy_type == "APIKey"        ? "apiKey"
                      : pv.policy_type == "AzureAPIKey" ? "azureAPIKey"
                                                        : "anthropicAPIKey";
  y += "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name +
       "-apikey\n  namespace: default\n"
       "  annotations:\n    substitution.aigw.run/env/apiKey: " +
       pv.key_env + "\ntype: Opaque\n---\n";
  y += "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: BackendSecurityPolicy\nmetadata:\n"
       "  name: " +
       name +
       "-apikey\n  namespace: default\nspec:\n  targetRefs:\n"
       "    - group: aigateway.envoyproxy.io\n      kind: AIServiceBackend\n      name: " +
       name +
       "\n"
       "  type: " +
       pv.policy_type + "\n  " + field + ":\n    secretRef:\n      name: " + name + "-apikey\n";
  return y + mcp;
}

} // namespace aigw::control
