// Configuration loading; see loader.h.
#include "control/loader.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace aigw::control {
namespace {

constexpr std::string_view kEnvPrefix = "substitution.aigw.run/env/";
constexpr std::string_view kFilePrefix = "substitution.aigw.run/file/";

// The Secrets ("namespace/name") that a resource aigw reads refers to.
std::set<std::string> referenced_secrets(const api::Resources &res) {
  std::set<std::string> out;
  for (const auto &p : res.security_policies)
    for (const auto *ref : {&p.api_key_secret, &p.aws_credentials_secret, &p.azure_client_secret,
                            &p.gcp_credentials_secret})
      if (*ref)
        out.insert(((*ref)->namespace_.empty() ? p.meta.namespace_ : (*ref)->namespace_) + "/" +
                   (*ref)->name);
  for (const auto &r : res.mcp_routes)
    for (const auto &b : r.backend_refs)
      if (b.api_key && !b.api_key->secret_name.empty())
        out.insert(
            (b.api_key->secret_namespace.empty() ? r.namespace_ : b.api_key->secret_namespace) +
            "/" + b.api_key->secret_name);
  return out;
}

bool is_document_separator(std::string_view line) {
  return line.starts_with("---") && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' ||
                                     line[3] == '\r' || line[3] == '\n');
}

// The top-level `kind:` of the YAML document around `offset` in a multi-document text, found
// by lines (before parsing, which needs the expanded text): nullopt when there is none.
std::optional<std::string> document_kind_at(std::string_view text, size_t offset) {
  size_t begin = 0, end = text.size();
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    size_t next = nl == std::string_view::npos ? text.size() : nl + 1;
    if (is_document_separator(text.substr(pos, next - pos))) {
      if (pos <= offset) {
        begin = next;
      } else {
        end = pos;
        break;
      }
    }
    pos = next;
  }
  std::string_view doc = text.substr(begin, end - begin);
  for (size_t pos = 0; pos < doc.size();) {
    size_t nl = doc.find('\n', pos);
    std::string_view line = doc.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    if (line.starts_with("kind:")) {
      std::string_view v = line.substr(5);
      if (auto hash = v.find(" #"); hash != std::string_view::npos) v = v.substr(0, hash);
      while (!v.empty() && (v.front() == ' ' || v.front() == '"' || v.front() == '\''))
        v.remove_prefix(1);
      while (!v.empty() &&
             (v.back() == ' ' || v.back() == '\r' || v.back() == '"' || v.back() == '\''))
        v.remove_suffix(1);
      return std::string(v);
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return std::nullopt;
}

} // namespace

void substitute_secrets(api::Resources &res, const EnvLookup &env, api::Diagnostics &diag) {
  std::set<std::string> used = referenced_secrets(res);
  for (auto &s : res.secrets) {
    if (!used.count(s.meta.key())) continue;
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

LoadResult load_text(std::string_view text, const std::string &source, const EnvLookup &env,
                     uint64_t generation) {
  LoadResult out;
  std::vector<std::string> unset;
  std::vector<size_t> unset_at;
  std::string expanded = expand_env(text, env, &unset, &unset_at);
  for (size_t i = 0; i < unset.size(); ++i) {
    // A resource that is skipped anyway does not need its variables.
    auto kind = document_kind_at(text, unset_at[i]);
    if (kind && !api::is_supported_kind(*kind)) continue;
    out.diag.warning(source + ": environment variable " + unset[i] +
                     " is not set; expanded to \"\"");
  }
  api::Resources res;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(expanded);
    // Refused before anything walks the documents (translate prints every node it is given).
    size_t budget = api::max_expanded_yaml_nodes(expanded.size());
    for (size_t i = 0; i < docs.size(); ++i) {
      size_t n = api::expanded_node_count(docs[i], budget);
      if (n > budget) {
        out.diag.error(source + ": document " + std::to_string(i + 1) +
                       " expands through aliases to more than " +
                       std::to_string(api::max_expanded_yaml_nodes(expanded.size())) +
                       " YAML nodes (an alias bomb?); refused");
        return out;
      }
      budget -= n;
    }
    for (size_t i = 0; i < docs.size(); ++i)
      api::decode_document(docs[i], i, res, out.diag);
    out.decoded = true;
  } catch (const YAML::Exception &e) {
    out.diag.error(source + ": invalid YAML at line " + std::to_string(e.mark.line + 1) +
                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
    return out;
  }
  substitute_secrets(res, env, out.diag);
  if (res.routes.empty() && res.mcp_routes.empty())
    out.diag.warning(source + ": no AIGatewayRoute or MCPRoute defined: nothing is routed");
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

Result<std::string> read_config_sources(const std::vector<std::string> &paths) {
  std::string text;
  for (const auto &p : paths) {
    auto t = read_config_source(p);
    if (!t) return t;
    if (!text.empty()) text += "\n---\n";
    text += *t;
  }
  return text;
}

std::string describe_paths(const std::vector<std::string> &paths) {
  std::string out;
  for (const auto &p : paths)
    out += (out.empty() ? "" : ", ") + p;
  return out;
}

LoadResult load_files(const std::vector<std::string> &paths, const EnvLookup &env,
                      uint64_t generation) {
  auto text = read_config_sources(paths);
  if (!text) {
    LoadResult out;
    out.diag.error(text.error().message);
    return out;
  }
  return load_text(*text, describe_paths(paths), env, generation);
}

LoadResult load_file(const std::string &path, const EnvLookup &env, uint64_t generation) {
  return load_files({path}, env, generation);
}

} // namespace aigw::control
