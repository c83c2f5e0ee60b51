// Configuration loading; see loader.h.
#include "control/loader.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace aigw::control {
namespace {

constexpr std::string_view kEnvPrefix = "substitution.aigw.run/env/";
constexpr std::string_view kFilePrefix = "substitution.aigw.run/file/";

// Secrets may take values from the environment or files, named by annotations (as upstream).
void substitute_secrets(api::Resources &res, const EnvLookup &env, api::Diagnostics &diag) {
  for (auto &s : res.secrets) {
    for (const auto &[ann, value] : s.meta.annotations) {
      std::string where = "Secret " + s.meta.key() + ": metadata.annotations[" + ann + "]";
      if (ann.starts_with(kEnvPrefix)) {
        std::string key = ann.substr(kEnvPrefix.size());
        auto v = env(value);
        if (!v) {
          diag.error(where + ": environment variable " + value + " is not set");
          continue;
        }
        s.data[key] = *v;
      } else if (ann.starts_with(kFilePrefix)) {
        std::string key = ann.substr(kFilePrefix.size());
        std::string path = value;
        if (path.starts_with("~/")) {
          if (auto home = env("HOME")) path = *home + path.substr(1);
        }
        std::ifstream in(path, std::ios::binary);
        if (!in) {
          diag.error(where + ": cannot read file \"" + path + "\"");
          continue;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        std::string content = ss.str();
        while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
          content.pop_back();
        s.data[key] = content;
      }
    }
  }
}

} // namespace

LoadResult load_text(std::string_view text, const std::string &source, const EnvLookup &env,
                     uint64_t generation) {
  LoadResult out;
  std::vector<std::string> unset;
  std::string expanded = expand_env(text, env, &unset);
  for (const auto &name : unset)
    out.diag.warning(source + ": environment variable " + name + " is not set; expanded to \"\"");
  api::Resources res;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(expanded);
    for (size_t i = 0; i < docs.size(); ++i)
      api::decode_document(docs[i], i, res, out.diag);
  } catch (const YAML::Exception &e) {
    out.diag.error(source + ": invalid YAML at line " + std::to_string(e.mark.line + 1) +
                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
    return out;
  }
  substitute_secrets(res, env, out.diag);
  if (res.routes.empty())
    out.diag.warning(source + ": no AIGatewayRoute defined: nothing is routed");
  CompileOptions opts;
  opts.generation = generation;
  opts.source = source;
  opts.now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  auto snap = compile(res, opts, out.diag);
  if (snap && out.diag.ok()) out.snapshot = snap;
  return out;
}

Result<std::string> read_config_source(const std::string &path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (const auto &e : fs::directory_iterator(path, ec)) {
      auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) return Error::config(path + ": no .yaml files in this directory");
  } else {
    files.push_back(path);
  }
  std::string text;
  for (const auto &f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Error::config(f.string() + ": cannot open file");
    std::stringstream ss;
    ss << in.rdbuf();
    if (!text.empty()) text += "\n---\n";
    text += ss.str();
  }
  return text;
}

LoadResult load_file(const std::string &path, const EnvLookup &env, uint64_t generation) {
  auto text = read_config_source(path);
  if (!text) {
    LoadResult out;
    out.diag.error(text.error().message);
    return out;
  }
  return load_text(*text, path, env, generation);
}

} // namespace aigw::control
