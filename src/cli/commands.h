// The `aigw` subcommands: run, validate, example, translate, autoconfig. main.cc only parses flags
// and calls these.
#pragma once

#include "proxy/server.h"

#include <optional>
#include <string>
#include <vector>

namespace aigw::cli {

struct RunOptions {
  std::vector<std::string> config_paths; // files or directories; none: autoconfig from the env
  proxy::ServerOptions server;
  bool watch = true;
  std::string mcp_config, mcp_json; // upstream's --mcp-config (a file) / --mcp-json
};

int run(const RunOptions &opts);
int validate(const std::vector<std::string> &config_paths);
// `aigw example`: prints `port=N` (the first Gateway listener) and `model=NAME` (a model an
// Exact x-ai-eg-model match serves on any host), each when there is one, for scripts that show
// a first request. Exit status 1 when the configuration does not load.
int print_example(const std::vector<std::string> &config_paths);
// Prints the configuration generated from the environment (what `aigw run` with no file uses).
int print_autoconfig(const std::string &mcp_config = {}, const std::string &mcp_json = {});
// `aigw translate`: prints the Envoy Gateway resources for the configuration files.
int translate(const std::vector<std::string> &paths);
// Where `aigw usage` reads records: ledger files, and the ledger's Redis stream.
struct UsageSources {
  std::vector<std::string> files; // --usage-ledger files
  std::string redis_url;          // --usage-ledger-redis ("" : none)
  std::string stream = "aigw:usage";
};
// `aigw usage`: spend in usage ledgers by key, model and day (`by`: one of them, "" : all three),
// from records at or after `since` (an RFC 3339 prefix, "" : all).
int usage(const UsageSources &from, const std::string &by, const std::string &since);

} // namespace aigw::cli
