// Subcommand implementations; see commands.h.
#include "cli/commands.h"

#include "control/autoconfig.h"
#include "control/config_store.h"
#include "control/env_expand.h"
#include "control/loader.h"
#include "control/translate.h"
#include "proxy/token_fetch.h"

#include <yaml-cpp/yaml.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace aigw::cli {
namespace {

void print_diagnostics(const api::Diagnostics &d) {
  for (const auto &w : d.warnings())
    spdlog::warn("config: {}", w);
  for (const auto &e : d.errors())
    spdlog::error("config: {}", e);
}

} // namespace

namespace {
// The MCP servers document of --mcp-config or --mcp-json, or an error.
Result<std::string> mcp_servers(const std::string &file, const std::string &json) {
  if (!file.empty() && !json.empty())
    return Error::config("--mcp-config and --mcp-json are mutually exclusive");
  if (file.empty()) return json;
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error::config("--mcp-config " + file + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
} // namespace

int run(const RunOptions &opts) {
  auto env = control::process_env();
  control::LoadResult loaded;
  auto mcp = mcp_servers(opts.mcp_config, opts.mcp_json);
  if (!mcp) {
    spdlog::error("{}", mcp.error().message);
    return 2;
  }
  if (!mcp->empty() && !opts.config_paths.empty())
    spdlog::warn("--mcp-config/--mcp-json apply when no configuration file is given (as "
                 "upstream); ignored: declare an MCPRoute in the file instead");
  if (opts.config_paths.empty()) {
    auto yaml = control::autoconfig_yaml(env, *mcp);
    if (!yaml) {
      spdlog::error("{}", yaml.error().message);
      return 2;
    }
    loaded = control::load_text(*yaml, "environment", env, 1);
    if (loaded.snapshot && loaded.snapshot->rules.empty())
      spdlog::info("no config file given: the MCP servers given are served on /mcp");
    else
      spdlog::info(
          "no config file given: routing every model to the OpenAI-compatible backend at {}",
          env("OPENAI_BASE_URL").value_or("https://api.openai.com/v1"));
  } else {
    loaded = control::load_files(opts.config_paths, env, 1);
  }
  print_diagnostics(loaded.diag);
  if (!loaded.snapshot) {
    spdlog::error("config: {} is invalid ({} error(s)); not starting",
                  opts.config_paths.empty() ? "environment configuration"
                                            : control::describe_paths(opts.config_paths),
                  loaded.diag.errors().size());
    return 1;
  }
  control::ConfigStore store(loaded.snapshot);
  std::unique_ptr<control::FileWatcher> watcher;
  if (opts.watch && !opts.config_paths.empty())
    watcher = std::make_unique<control::FileWatcher>(opts.config_paths, env, &store);
  return proxy::run_server(store, opts.server);
}

int validate(const std::vector<std::string> &config_paths) {
  auto env = control::process_env();
  auto loaded = control::load_files(config_paths, env, 1);
  std::string config_path = control::describe_paths(config_paths);
  for (const auto &w : loaded.diag.warnings())
    std::cout << "warning: " << w << "\n";
  for (const auto &e : loaded.diag.errors())
    std::cout << "error: " << e << "\n";
  // Every resource's status, as upstream's controller would set its Accepted condition: an
  // error naming the resource makes it NotAccepted with that reason. Not when the whole input
  // was refused (invalid YAML, an alias bomb): nothing was read to give a status to.
  if (auto text = control::read_config_sources(config_paths); text && loaded.decoded) {
    try {
      for (const auto &doc : YAML::LoadAll(control::expand_env(*text, env, nullptr))) {
        if (!doc.IsMap() || !doc["kind"] || !doc["metadata"] || !doc["metadata"]["name"]) continue;
        std::string kind = doc["kind"].as<std::string>("");
        std::string ns = doc["metadata"]["namespace"]
                             ? doc["metadata"]["namespace"].as<std::string>("default")
                             : "default";
        std::string id = kind + " " + ns + "/" + doc["metadata"]["name"].as<std::string>("");
        std::vector<std::string> reasons;
        for (const auto &e : loaded.diag.errors())
          if (e.rfind(id + ":", 0) == 0) reasons.push_back(e.substr(id.size() + 2));
        bool skipped = false;
        for (const auto &w : loaded.diag.warnings())
          if (w.rfind(id + ": kind " + kind + " is not supported", 0) == 0) skipped = true;
        std::cout << id << ": "
                  << (!reasons.empty() ? "NotAccepted"
                      : skipped        ? "Ignored"
                                       : "Accepted");
        for (size_t i = 0; i < reasons.size(); ++i)
          std::cout << (i ? "; " : " (") << reasons[i];
        std::cout << (reasons.empty() ? "" : ")") << "\n";
      }
    } catch (const YAML::Exception &) {
      // The parse error is among the diagnostics already.
    }
  }
  if (!loaded.snapshot) {
    std::cout << config_path << ": invalid (" << loaded.diag.errors().size() << " error(s))\n";
    return 1;
  }
  std::cout << config_path << ": valid (" << loaded.snapshot->rules.size() << " rule(s), "
            << loaded.snapshot->models.size() << " declared model(s)"
            << (loaded.snapshot->mcp_routes.empty()
                    ? std::string()
                    : ", " + std::to_string(loaded.snapshot->mcp_routes.size()) + " MCP route(s)")
            << ")\n";
  return 0;
}

int translate(const std::vector<std::string> &paths) {
  auto text = control::read_config_sources(paths);
  if (!text) {
    std::cerr << "error: " << text.error().message << "\n";
    return 1;
  }
  // As upstream's controller, the MCP authorization servers' metadata is read from the issuer.
  auto get = [](const std::string &url) {
    return proxy::http_get_blocking(url, std::chrono::seconds(5));
  };
  auto out = control::translate_config(*text, control::process_env(), get);
  if (!out) {
    std::cerr << "error translating:\n" << out.error().message << "\n";
    return 1;
  }
  std::cout << *out;
  return 0;
}

int print_example(const std::vector<std::string> &config_paths) {
  auto env = control::process_env();
  auto loaded = control::load_files(config_paths, env, 1);
  if (!loaded.snapshot) return 1;
  // The first listener of the first Gateway, in file order (the snapshot keeps ports sorted);
  // with no Gateway, the port aigw listens on by default.
  int port = loaded.snapshot->listener_ports.empty() ? 0 : loaded.snapshot->listener_ports[0];
  if (auto text = control::read_config_sources(config_paths)) {
    try {
      for (const auto &doc : YAML::LoadAll(control::expand_env(*text, env, nullptr))) {
        if (!doc.IsMap() || !doc["kind"] || doc["kind"].as<std::string>("") != "Gateway") continue;
        auto listeners = doc["spec"] ? doc["spec"]["listeners"] : YAML::Node();
        if (!listeners || !listeners.IsSequence() || listeners.size() == 0) continue;
        auto first = listeners[0]["port"];
        if (first && first.IsScalar()) {
          port = first.as<int>(port);
          break;
        }
      }
    } catch (const YAML::Exception &) {
      // Loaded above, so this does not happen; the port line is optional anyway.
    }
  }
  if (port > 0) std::cout << "port=" << port << "\n";
  for (const auto &m : loaded.snapshot->models) {
    if (!m.hostnames.empty()) continue; // a request to 127.0.0.1 would not match its Host
    std::cout << "model=" << m.id << "\n";
    break;
  }
  return 0;
}

int print_autoconfig(const std::string &mcp_config, const std::string &mcp_json) {
  auto mcp = mcp_servers(mcp_config, mcp_json);
  if (!mcp) {
    std::cerr << mcp.error().message << "\n";
    return 2;
  }
  auto yaml = control::autoconfig_yaml(control::process_env(), *mcp);
  if (!yaml) {
    std::cerr << yaml.error().message << "\n";
    return 2;
  }
  std::cout << *yaml;
  return 0;
}

} // namespace aigw::cli
