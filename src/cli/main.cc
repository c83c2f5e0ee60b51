// aigw: the command line. Parses flags and dispatches to cli/commands.
#include "cli/commands.h"
#ifdef AIGW_HAVE_EXTPROC
#include "extproc/server.h"
#endif
#include "core/log.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <string>
#include <unistd.h>

namespace {
// The MCP flags of `aigw run`: the servers document, the session encryption (upstream's names
// and defaults).
void add_mcp_options(CLI::App &run, aigw::cli::RunOptions &opts) {
  auto &server = opts.server;
  run.add_option("--mcp-config", opts.mcp_config,
                 "an MCP clients' {\"mcpServers\": ...} file: its Streamable HTTP servers behind "
                 "/mcp (when no configuration file is given)");
  run.add_option("--mcp-json", opts.mcp_json, "the same document, inline");
  run.add_option("--mcp-session-encryption-seed", server.mcp_session_seed,
                 "seed of the key MCP session ids are encrypted with; env "
                 "AIGW_MCP_SESSION_ENCRYPTION_SEED")
      ->envname("AIGW_MCP_SESSION_ENCRYPTION_SEED");
  run.add_option("--mcp-session-encryption-iterations", server.mcp_session_iterations,
                 "PBKDF2 iterations deriving the MCP session key (default 100000)")
      ->check(CLI::Range(1, 10000000));
  run.add_option("--mcp-fallback-session-encryption-seed", server.mcp_fallback_session_seed,
                 "the previous seed, still accepted for MCP session ids during a rotation; env "
                 "AIGW_MCP_FALLBACK_SESSION_ENCRYPTION_SEED")
      ->envname("AIGW_MCP_FALLBACK_SESSION_ENCRYPTION_SEED");
  run.add_option("--mcp-fallback-session-encryption-iterations",
                 server.mcp_fallback_session_iterations,
                 "PBKDF2 iterations of the fallback seed (default 100000)")
      ->check(CLI::Range(1, 10000000));
}
// Upstream's controller writes the extproc flags with one dash (-configPath): accept both.
std::vector<std::string> double_dashed(int argc, char **argv) {
  std::vector<std::string> args(argv, argv + argc);
  bool in_extproc = argc > 1 && args[1] == "extproc";
  for (size_t i = 2; in_extproc && i < args.size(); ++i)
    if (args[i].size() > 2 && args[i][0] == '-' && args[i][1] != '-') args[i].insert(0, "-");
  return args;
}

struct UsageArgs {
  aigw::cli::UsageSources from;
  std::string by, since;
};

// `aigw usage`: spend from usage ledgers.
CLI::App *add_usage(CLI::App &app, UsageArgs &a) {
  auto *usage = app.add_subcommand("usage", "print spend from usage ledgers by key, model and day");
  usage->add_option("ledger", a.from.files, "usage ledger files (aigw run --usage-ledger)");
  usage->add_option(
      "--redis", a.from.redis_url,
      "read the ledger's Redis stream (aigw run --usage-ledger-redis); with files as well, "
      "their records are added to the stream's");
  usage->add_option("--stream", a.from.stream, "the stream key (default aigw:usage)");
  usage->add_option("--by", a.by, "key, model or day (default: all three)");
  usage->add_option("--since", a.since, "only records at or after this time (2026-12-01, ...)");
  return usage;
}

// aigw run's response cache flags.
void add_response_cache_options(CLI::App &run, aigw::cli::RunOptions &run_opts) {
  run.add_option("--response-cache", run_opts.server.response_cache,
                 "where routes with aigw.run/response-cache keep answers: memory, redis (the "
                 "--ratelimit-redis server, shared by replicas) or off (default: redis with "
                 "--ratelimit-redis, else memory)")
      ->check(CLI::IsMember({"memory", "redis", "off"}));
  run.add_option("--response-cache-max-bytes", run_opts.server.response_cache_max_bytes,
                 "bytes the in-memory response cache holds before evicting (default 256 MiB)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 40));
  run.add_option("--response-cache-max-entry-bytes", run_opts.server.response_cache_max_entry,
                 "largest answer the response cache stores (default 1 MiB)")
      ->check(CLI::Range(size_t{1}, size_t{512} << 20));
}

// `aigw run`'s usage ledger and prices (docs/usage.md).
void add_usage_ledger_options(CLI::App &run, aigw::observability::LedgerOptions &ledger) {
  run.add_option("--usage-ledger", ledger.path,
                 "append one JSON line per request (client, model, tokens, dollars) to this file");
  run.add_option("--usage-ledger-redis", ledger.redis_url,
                 "add each ledger record to a Redis stream as well (redis://HOST:PORT); env "
                 "AIGW_USAGE_LEDGER_REDIS")
      ->envname("AIGW_USAGE_LEDGER_REDIS");
  run.add_option("--usage-ledger-stream", ledger.stream_key,
                 "the ledger's Redis stream key (default aigw:usage)");
  run.add_option("--usage-ledger-stream-max-len", ledger.stream_max_len,
                 "records the stream keeps, about (XADD MAXLEN ~; default 1000000, 0: all)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  run.add_option("--price-catalog", ledger.price_catalog,
                 "a JSON file of model prices (USD per million tokens) over the bundled catalog");
}

#ifdef AIGW_HAVE_EXTPROC
// `aigw extproc`: upstream's flag names (the caller accepts them with one dash too).
CLI::App *add_extproc(CLI::App &app, aigw::extproc::ExtprocOptions &ext, std::string &log_level) {
  auto *extproc = app.add_subcommand(
      "extproc", "serve Envoy's ext_proc gRPC API (upstream's flags, single or double dash)");
  extproc->add_option("--configPath", ext.config_path, "filterapi configuration file");
  extproc->add_option("--configBundlePath", ext.config_bundle_path,
                      "filterapi configuration bundle directory (index.yaml + parts)");
  extproc->add_option("--extProcAddr", ext.address, "gRPC address: :port, host:port, unix:///path");
  extproc->add_option("--adminPort", ext.admin_port, "admin HTTP port (/health, /metrics)");
  extproc->add_option("--rootPrefix", ext.root_prefix, "path prefix of the served endpoints");
  extproc->add_option("--usageLedger", ext.ledger.path,
                      "append one JSON line per request (tokens, dollars) to this file");
  extproc->add_option("--usageLedgerRedis", ext.ledger.redis_url,
                      "add each ledger record to a Redis stream as well (redis://HOST:PORT)");
  extproc->add_option("--usageLedgerStream", ext.ledger.stream_key,
                      "the ledger's Redis stream key (default aigw:usage)");
  extproc
      ->add_option("--usageLedgerStreamMaxLen", ext.ledger.stream_max_len,
                   "records the stream keeps, about (XADD MAXLEN ~; default 1000000, 0: all)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  extproc->add_option("--priceCatalog", ext.ledger.price_catalog,
                      "a JSON file of model prices (USD per million tokens)");
  extproc
      ->add_option("--responseCacheMaxBytes", ext.response_cache_max_bytes,
                   "bytes the response cache holds before evicting (default 256 MiB)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 40));
  extproc
      ->add_option("--responseCacheMaxEntryBytes", ext.response_cache_max_entry,
                   "largest answer the response cache stores (default 1 MiB)")
      ->check(CLI::Range(size_t{1}, size_t{512} << 20));
  extproc->add_option("--maxRecvMsgSize", ext.max_recv_msg_size, "largest gRPC message in bytes");
  extproc->add_option("--endpointPrefixes", ext.endpoint_prefixes,
                      "where endpoints live, \"openai:/,cohere:/cohere\"");
  extproc->add_option("--logLevel", log_level, "debug, info, warn or error");
  extproc->add_option("--mcpAddr", ext.mcp_address,
                      "serve the filter configuration's MCP routes here (:port, host:port)");
  extproc
      ->add_option("--mcpSessionEncryptionSeed", ext.mcp_session_seed,
                   "seed of the MCP session ids' key")
      ->envname("AIGW_MCP_SESSION_ENCRYPTION_SEED");
  extproc->add_option("--mcpSessionEncryptionIterations", ext.mcp_session_iterations,
                      "PBKDF2 iterations for that key");
  extproc->add_option("--mcpFallbackSessionEncryptionSeed", ext.mcp_fallback_session_seed,
                      "the previous seed, for ids issued before a rotation");
  extproc->add_option("--mcpFallbackSessionEncryptionIterations",
                      ext.mcp_fallback_session_iterations, "PBKDF2 iterations for that key");
  extproc
      ->allow_extras(); // upstream's other flags (-logFormat, -mcpWriteTimeout, ...) are accepted
  return extproc;
}
#endif
} // namespace

#ifdef AIGW_EXTPROC_SIBLING
// `aigw extproc ...` is served by the aigw-extproc binary next to this one (the gRPC libraries
// stay out of `aigw run`): the same arguments, executed in place of this process.
int exec_extproc(char **argv) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv[0]);
  dir = dir.substr(0, dir.rfind('/') + 1);
  std::string sibling = dir + "aigw-extproc";
  argv[0] = sibling.data();
  ::execv(sibling.c_str(), argv);
  std::fprintf(stderr, "aigw extproc: cannot run %s: %s\n", sibling.c_str(), std::strerror(errno));
  return 127;
}
#endif

int main(int argc, char **argv) {
#ifdef AIGW_EXTPROC_SIBLING
  if (argc > 1 && std::strcmp(argv[1], "extproc") == 0) return exec_extproc(argv);
#endif
  CLI::App app{"aigw: an AI gateway speaking Envoy AI Gateway's configuration"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  aigw::cli::RunOptions run_opts;
  auto *run = app.add_subcommand("run", "serve the gateway (with no file: configure from "
                                        "OPENAI_API_KEY / OPENAI_BASE_URL)");
  run->add_option("config", run_opts.config_paths,
                  "configuration files or directories (multi-document YAML), loaded together");
  run->add_option("--admin-port", run_opts.server.admin_port, "admin listener port")
      ->check(CLI::Range(0, 65535));
  run->add_option("--concurrency", run_opts.server.concurrency,
                  "worker threads, one event loop each (default: cores)")
      ->check(CLI::Range(0, 1024));
  auto *listen_address = run->add_option(
      "--listen-address", run_opts.server.listen_host,
      "address the listeners bind (default: every address with a configuration file, 127.0.0.1 "
      "when configured from the environment)");
  run->add_option("--max-connections", run_opts.server.max_connections,
                  "client connections open at once; more are closed at once (default: from the "
                  "file-descriptor limit)");
  int64_t header_timeout = run_opts.server.request_header_timeout.count();
  run->add_option("--request-header-timeout", header_timeout,
                  "seconds from a request's first byte to the end of its head (default 60)")
      ->check(CLI::Range(1, 3600));
  int64_t idle_timeout = run_opts.server.idle_timeout.count();
  run->add_option("--idle-timeout", idle_timeout,
                  "seconds a keep-alive connection may wait for its next request (default 300)")
      ->check(CLI::Range(1, 86400));
  int64_t drain_timeout = run_opts.server.drain_timeout.count();
  run->add_option("--drain-timeout", drain_timeout,
                  "seconds requests in flight may finish after SIGTERM (default 30)")
      ->check(CLI::Range(0, 3600));
  run->add_flag("--reuse-port", run_opts.server.reuse_port,
                "share the listener ports with another process (SO_REUSEPORT)");
  run->add_option("--metrics-max-label-values", run_opts.server.metrics_max_label_values,
                  "distinct values a client-chosen metric label may take; more become \"_OTHER\" "
                  "(default 1000)")
      ->check(CLI::Range(1, 1000000));
  run->add_option("--admin-address", run_opts.server.admin_host, "address the admin port binds");
  run->add_option("--max-request-body", run_opts.server.max_request_body,
                  "largest accepted request body in bytes");
  run->add_option("--ratelimit-redis", run_opts.server.ratelimit_redis,
                  "share token budgets through Redis (redis://HOST:PORT); env AIGW_RATELIMIT_REDIS")
      ->envname("AIGW_RATELIMIT_REDIS");
  run->add_flag("--ratelimit-fail-closed", run_opts.server.ratelimit_fail_closed,
                "refuse requests (503) while the Redis budget store is unreachable");
  add_response_cache_options(*run, run_opts);
  add_mcp_options(*run, run_opts);
  bool no_access_log = false;
  run->add_flag("--no-access-log", no_access_log, "do not write a JSON line per request to stdout");
  run->add_option("--access-log-file", run_opts.server.access_log_file,
                  "write the request log to this file (appended) instead of stdout");
  add_usage_ledger_options(*run, run_opts.server.ledger);
  run->add_option("--metrics-request-header-attributes",
                  run_opts.server.metrics_request_header_attributes,
                  "request headers added to the GenAI metrics as labels, \"header:label,...\"")
      ->envname("AIGW_METRICS_REQUEST_HEADER_ATTRIBUTES");
  bool no_metrics = false;
  run->add_flag("--no-metrics", no_metrics, "do not record the GenAI metrics");
  bool no_watch = false;
  run->add_flag("--no-watch", no_watch, "do not reload the configuration files when they change");
  bool debug = false;
  run->add_flag("--debug", debug, "debug logging");
  run->add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  std::vector<std::string> validate_paths;
  auto *validate = app.add_subcommand(
      "validate", "check a configuration (files or directories, loaded together) and print every "
                  "problem");
  validate->add_option("config", validate_paths, "configuration files or directories")->required();

  std::vector<std::string> example_paths;
  auto *example = app.add_subcommand(
      "example", "print port=N and model=NAME for a request the configuration serves (scripts)");
  example->add_option("config", example_paths, "configuration files or directories")->required();

  std::vector<std::string> translate_paths;
  auto *translate = app.add_subcommand(
      "translate", "print the Envoy Gateway resources upstream's controller would apply");
  translate->add_option("config", translate_paths, "configuration files or directories")
      ->required();

#ifdef AIGW_HAVE_EXTPROC
  aigw::extproc::ExtprocOptions ext;
  auto *extproc = add_extproc(app, ext, log_level);
#elif defined(AIGW_EXTPROC_SIBLING) // listed for --help; it runs aigw-extproc (exec_extproc)
  app.add_subcommand("extproc", "serve Envoy's ext_proc gRPC API (upstream's flags, single or "
                                "double dash; runs aigw-extproc)")
      ->allow_extras();
#endif

  auto *autoconfig =
      app.add_subcommand("autoconfig", "print the configuration built from the environment");
  std::string auto_mcp_config, auto_mcp_json;
  autoconfig->add_option("--mcp-config", auto_mcp_config, "an MCP servers file, as aigw run takes");
  autoconfig->add_option("--mcp-json", auto_mcp_json, "an MCP servers document, inline");
  UsageArgs usage_args;
  auto *usage = add_usage(app, usage_args);
  auto *version = app.add_subcommand("version", "print the version");

  std::vector<std::string> args = double_dashed(argc, argv);
  std::vector<char *> argv2;
  for (auto &a : args)
    argv2.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv2.size()), argv2.data());
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }
  if (debug) log_level = "debug";
  aigw::init_logging(log_level);
  if (*version) {
    std::printf("aigw 0.1.0\n");
    return 0;
  }
  if (*validate) return aigw::cli::validate(validate_paths);
  if (*example) return aigw::cli::print_example(example_paths);
  if (*autoconfig) return aigw::cli::print_autoconfig(auto_mcp_config, auto_mcp_json);
  if (*translate) return aigw::cli::translate(translate_paths);
  if (*usage) return aigw::cli::usage(usage_args.from, usage_args.by, usage_args.since);
#ifdef AIGW_HAVE_EXTPROC
  if (*extproc) return aigw::extproc::run_extproc(ext);
#endif
  if (*run) {
    run_opts.server.request_header_timeout = std::chrono::seconds(header_timeout);
    run_opts.server.idle_timeout = std::chrono::seconds(idle_timeout);
    run_opts.server.drain_timeout = std::chrono::seconds(drain_timeout);
    // Configured from the environment (a real key, no file): loopback only, or it is an open
    // proxy to the key's account.
    if (run_opts.config_paths.empty() && listen_address->count() == 0)
      run_opts.server.listen_host = "127.0.0.1";
    run_opts.server.access_log = !no_access_log;
    run_opts.server.metrics = !no_metrics;
    run_opts.watch = !no_watch;
    return aigw::cli::run(run_opts);
  }
  return 0;
}
