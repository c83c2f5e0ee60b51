// Fuzz target: what a client or an MCP server sends the MCP gateway. The first byte picks: a CEL
// authorization expression compiled and evaluated; a client's JSON-RPC body through
// mcp::Exchange with the rest as the backends' answers; a backend's event stream relayed in
// pieces; or the session, URI and server-request-id parsers. Nothing may crash, and every reply
// must be well-formed (a status, and a JSON body when it says so).
#include "control/loader.h"
#include "mcp/cel.h"
#include "mcp/exchange.h"

#include <simdjson.h>

#include <cstdint>
#include <cstdlib>

namespace {

using namespace aigw;

const char *kConfig = R"(
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: g}]
  backendRefs:
    - {name: a, toolSelector: {exclude: [hidden]}}
    - {name: b, prefixMode: Never, toolSelector: {include: [search]}}
  securityPolicy:
    authorization:
      defaultAction: Allow
      rules:
        - cel: "request.mcp.tool == 'x' && request.mcp.params.arguments.n > 3"
          action: Deny
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: a, namespace: default}
spec: {endpoints: [{ip: {address: 127.0.0.1, port: 1}}]}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b, namespace: default}
spec: {endpoints: [{ip: {address: 127.0.0.1, port: 2}}]}
)";

struct Fixture {
  control::LoadResult loaded;
  mcp::SessionCrypto crypto{"fuzz", 1};
  std::string session;
  Fixture()
      : loaded(control::load_text(
            kConfig, "fuzz.yaml", [](const std::string &) { return std::optional<std::string>(); },
            1)) {
    if (!loaded.snapshot) std::abort();
    mcp::ClientSession s{
        "default/r", "", {{"a", "sa", mcp::kAllCapabilities}, {"b", "sb", mcp::kAllCapabilities}}};
    session = crypto.encrypt(mcp::encode_session(s));
  }
};

Fixture &fixture() {
  static Fixture f;
  return f;
}

// A reply has a status; one the gateway wrote itself in JSON (a merged list, initialize, ping)
// is JSON. (A backend's own answer is relayed as it came, well-formed or not.)
void check_reply(const mcp::Reply &r, bool relayed) {
  if (r.status < 100 || r.status > 599) std::abort();
  if (!relayed && r.content_type == "application/json" && !r.body.empty()) {
    thread_local simdjson::dom::parser p;
    simdjson::dom::element e;
    if (p.parse(r.body).get(e)) std::abort();
  }
}

// Drives an exchange to its reply, answering each round's calls with pieces of `rest`.
void drive(mcp::Exchange &ex, mcp::Exchange::Step step, std::string_view rest) {
  for (int round = 0; round < 4; ++round) {
    auto *calls = std::get_if<std::vector<mcp::BackendCall>>(&step);
    if (!calls) break;
    std::vector<mcp::BackendAnswer> answers(calls->size());
    for (auto &a : answers) {
      size_t n = std::min(rest.size(), rest.empty() ? size_t(0) : size_t(rest[0]) * 8);
      a.ok = true;
      a.status = rest.size() > 1 && rest[1] % 7 == 0 ? 500 : 200;
      a.content_type = rest.size() > 2 && rest[2] % 2 ? "application/json" : "text/event-stream";
      a.body = std::string(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    if (ex.relays_streams())
      for (size_t i = 0; i < calls->size(); ++i)
        (void)ex.stream_events(i, answers[i].body);
    step = ex.on_answers(std::move(answers));
  }
  if (auto *r = std::get_if<mcp::Reply>(&step)) check_reply(*r, !ex.backend_name().empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  auto &f = fixture();
  std::string_view in(reinterpret_cast<const char *>(data) + 1, size - 1);
  switch (data[0] % 4) {
  case 0: {
    static const mcp::cel::Value request = mcp::cel::from_json(
        R"({"mcp":{"tool":"t","params":{"arguments":{"n":5,"s":"x"}}},"headers":{"h":"v"},"auth":{"jwt":{"scopes":["a"],"claims":{"sub":"s","g":["x"]}}}})");
    if (auto p = mcp::cel::Program::compile(in)) (void)p->evaluate(request);
    break;
  }
  case 1:
  case 2: {
    // the client's body up to the first NUL, the backends' answers after it
    size_t nul = in.find('\0');
    std::string_view body = in.substr(0, nul),
                     rest = nul == std::string_view::npos ? "" : in.substr(nul + 1);
    std::string sid = f.session;
    mcp::Request r;
    r.method = data[0] % 4 == 1 ? "POST" : (size % 3 == 0 ? "GET" : "DELETE");
    r.headers = [&](std::string_view name) -> std::optional<std::string_view> {
      if (name == "mcp-session-id") return std::string_view(sid);
      return std::nullopt;
    };
    r.body = body;
    const auto &route = f.loaded.snapshot->mcp_routes.at(0);
    mcp::Exchange ex(route, f.crypto, "fuzz");
    drive(ex, ex.begin(r), rest);
    break;
  }
  default: {
    std::string why;
    (void)mcp::parse_session(in, &why);
    (void)mcp::upstream_uri(in);
    (void)mcp::decode_server_request_id(in);
    (void)f.crypto.decrypt(in);
    break;
  }
  }
  return 0;
}
