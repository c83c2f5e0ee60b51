// Subcommand implementations; see commands.h.
#include "cli/commands.h"

#include "control/autoconfig.h"
#include "control/config_store.h"
#include "control/env_expand.h"
#include "control/loader.h"
#include "control/translate.h"

#include <yaml-cpp/yaml.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

namespace aigw::cli {
namespace {

void print_diagnostics(const api::Diagnostics &d) {
  for (const auto &w : d.warnings())
    spdlog::warn("config: {}", w);
  for (const auto &e : d.errors())
    spdlog::error("config: {}", e);
}

} // namespace

int run(const RunOptions &opts) {
  auto env = control::process_env();
  control::LoadResult loaded;
  if (opts.config_path.empty()) {
    auto yaml = control::autoconfig_yaml(env);
    if (!yaml) {
      spdlog::error("{}", yaml.error().message);
      return 2;
    }
    loaded = control::load_text(*yaml, "environment", env, 1);
    spdlog::info("no config file given: routing every model to the OpenAI-compatible backend at {}",
                 env("OPENAI_BASE_URL").value_or("https://api.openai.com/v1"));
  } else {
    loaded = control::load_file(opts.config_path, env, 1);
  }
  print_diagnostics(loaded.diag);
  if (!loaded.snapshot) {
    spdlog::error("config: {} is invalid ({} error(s)); not starting",
                  opts.config_path.empty() ? "environment configuration" : opts.config_path,
                  loaded.diag.errors().size());
    return 1;
  }
  control::ConfigStore store(loaded.snapshot);
  std::unique_ptr<control::FileWatcher> watcher;
  if (opts.watch && !opts.config_path.empty())
    watcher = std::make_unique<control::FileWatcher>(opts.config_path, env, &store);
  return proxy::run_server(store, opts.server);
}

int validate(const std::string &config_path) {
  auto env = control::process_env();
  auto loaded = control::load_file(config_path, env, 1);
  for (const auto &w : loaded.diag.warnings())
    std::cout << "warning: " << w << "\n";
  for (const auto &e : loaded.diag.errors())
    std::cout << "error: " << e << "\n";
  // Every resource's status, as upstream's controller would set its Accepted condition: an
  // error naming the resource makes it NotAccepted with that reason.
  if (auto text = control::read_config_source(config_path)) {
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
            << loaded.snapshot->models.size() << " declared model(s))\n";
  return 0;
}

int translate(const std::vector<std::string> &paths) {
  std::string text;
  for (const auto &p : paths) {
    auto t = control::read_config_source(p);
    if (!t) {
      std::cerr << "error: " << t.error().message << "\n";
      return 1;
    }
    text += *t;
    text += "\n---\n";
  }
  auto out = control::translate_config(text, control::process_env());
  if (!out) {
    std::cerr << "error translating:\n" << out.error().message << "\n";
    return 1;
  }
  std::cout << *out;
  return 0;
}

int print_autoconfig() {
  auto yaml = control::autoconfig_yaml(control::process_env());
  if (!yaml) {
    std::cerr << yaml.error().message << "\n";
    return 2;
  }
  std::cout << *yaml;
  return 0;
}

} // namespace aigw::cli
