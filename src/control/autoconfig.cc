// Environment autoconfiguration; see autoconfig.h.
#include "control/autoconfig.h"

#include "core/json_scan.h"

#include <arpa/inet.h>

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

Result<BaseUrl> parse_base_url(const std::string &url) {
  BaseUrl out;
  std::string rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    out.tls = false;
    out.port = 80;
    rest = url.substr(7);
  } else {
    return Error::config("OPENAI_BASE_URL: unsupported scheme in \"" + url +
                         "\" (use http:// or https://)");
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "" : rest.substr(slash);
  if (auto q = out.path.find_first_of("?#"); q != std::string::npos) out.path.resize(q);
  while (!out.path.empty() && out.path.back() == '/')
    out.path.pop_back();
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return Error::config("OPENAI_BASE_URL: bad IPv6 address");
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
        return Error::config("OPENAI_BASE_URL: invalid port in \"" + url + "\"");
      }
      out.host = authority.substr(0, colon);
    } else {
      out.host = authority;
    }
  }
  if (out.host.empty())
    return Error::config("OPENAI_BASE_URL: missing hostname in \"" + url + "\"");
  unsigned char buf[16];
  out.is_ip = inet_pton(AF_INET, out.host.c_str(), buf) == 1 ||
              inet_pton(AF_INET6, out.host.c_str(), buf) == 1;
  return out;
}

} // namespace

Result<std::string> autoconfig_yaml(const EnvLookup &env) {
  auto key = env("OPENAI_API_KEY");
  if (!key || key->empty())
    return Error::config("no configuration file given and OPENAI_API_KEY is not set: either pass "
                         "a config file (aigw run config.yaml) or set OPENAI_API_KEY (and "
                         "optionally OPENAI_BASE_URL) to route to an OpenAI-compatible provider");
  std::string base = env("OPENAI_BASE_URL").value_or("");
  if (base.empty()) base = "https://api.openai.com/v1";
  auto url = parse_base_url(base);
  if (!url) return url.error();
  const BaseUrl &u = *url;

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
       "        - name: openai\n          namespace: default\n      timeouts:\n"
       "        request: 120s\n  llmRequestCosts:\n    - metadataKey: llm_input_token\n"
       "      type: InputToken\n    - metadataKey: llm_output_token\n      type: OutputToken\n"
       "    - metadataKey: llm_reasoning_token\n      type: ReasoningToken\n---\n";
  y += "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata:\n  name: openai\n"
       "  namespace: default\nspec:\n  endpoints:\n";
  if (u.is_ip) {
    y += "    - ip:\n        address: " + json::quoted(u.host) +
         "\n        port: " + std::to_string(u.port) + "\n---\n";
  } else {
    y += "    - fqdn:\n        hostname: " + json::quoted(u.host) +
         "\n        port: " + std::to_string(u.port) + "\n---\n";
  }
  // The base URL's path is the prefix every OpenAI path goes under ("/v1" for api.openai.com,
  // "/api/v1" for OpenRouter): upstream drops it, we keep it.
  std::string prefix = u.path.empty() ? "/" : u.path;
  y += "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\nmetadata:\n"
       "  name: openai\n  namespace: default\nspec:\n  schema:\n    name: OpenAI\n    prefix: " +
       json::quoted(prefix) +
       "\n  backendRef:\n    name: openai\n    kind: Backend\n    group: gateway.envoyproxy.io\n"
       "    namespace: default\n";
  auto org = env("OPENAI_ORG_ID").value_or("");
  auto project = env("OPENAI_PROJECT_ID").value_or("");
  if (!org.empty() || !project.empty()) {
    y += "  headerMutation:\n    set:\n";
    if (!org.empty())
      y += "      - name: OpenAI-Organization\n        value: " + json::quoted(org) + "\n";
    if (!project.empty())
      y += "      - name: OpenAI-Project\n        value: " + json::quoted(project) + "\n";
  }
  y += "---\n";
  if (u.tls) {
    y += "apiVersion: gateway.networking.k8s.io/v1alpha3\nkind: BackendTLSPolicy\nmetadata:\n"
         "  name: openai-tls\n  namespace: default\nspec:\n  targetRefs:\n"
         "    - group: gateway.envoyproxy.io\n      kind: Backend\n      name: openai\n"
         "  validation:\n    wellKnownCACertificates: System\n    hostname: " +
         json::quoted(u.host) + "\n---\n";
  }
  // The key is referenced through the environment annotation, so it never sits in the text.
  y += "apiVersion: v1\nkind: Secret\nmetadata:\n  name: openai-apikey\n  namespace: default\n"
       "  annotations:\n    substitution.aigw.run/env/apiKey: OPENAI_API_KEY\ntype: Opaque\n---\n";
  y += "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: BackendSecurityPolicy\nmetadata:\n"
       "  name: openai-apikey\n  namespace: default\nspec:\n  targetRefs:\n"
       "    - group: aigateway.envoyproxy.io\n      kind: AIServiceBackend\n      name: openai\n"
       "  type: APIKey\n  apiKey:\n    secretRef:\n      name: openai-apikey\n";
  return y;
}

} // namespace aigw::control
