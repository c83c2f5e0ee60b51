// The `aigw` subcommands: run, validate, version. main.cc only parses flags and calls these.
#pragma once

#include "proxy/server.h"

#include <optional>
#include <string>
#include <vector>

namespace aigw::cli {

struct RunOptions {
  std::string config_path; // empty: autoconfig from the environment
  proxy::ServerOptions server;
  bool watch = true;
};

int run(const RunOptions &opts);
int validate(const std::string &config_path);
// Prints the configuration generated from the environment (what `aigw run` with no file uses).
int print_autoconfig();
// `aigw translate`: prints the Envoy Gateway resources for the configuration files.
int translate(const std::vector<std::string> &paths);

} // namespace aigw::cli
