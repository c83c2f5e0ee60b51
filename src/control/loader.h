// Loading a configuration: file text → `${VAR}` expansion → YAML documents → Resources → Secret
// substitution annotations → compiled Snapshot. The one place yaml-cpp exceptions are caught.
#pragma once

#include "api/resources.h"
#include "control/env_expand.h"
#include "control/snapshot.h"

#include <memory>
#include <string>
#include <vector>

namespace aigw::control {

struct LoadResult {
  std::shared_ptr<const Snapshot> snapshot; // nullptr when there were errors
  api::Diagnostics diag;
  bool decoded = false; // the documents were parsed and read (not refused as a whole)
};

LoadResult load_text(std::string_view text, const std::string &source, const EnvLookup &env,
                     uint64_t generation);
// `path` is a file, or a directory whose *.yaml / *.yml files (sorted by name) form one config.
LoadResult load_file(const std::string &path, const EnvLookup &env, uint64_t generation);
// Several files or directories, in the order given, loaded together as one configuration.
LoadResult load_files(const std::vector<std::string> &paths, const EnvLookup &env,
                      uint64_t generation);

// Secrets may take values from the environment or files, named by annotations (as upstream's
// `aigw run`): substitution.aigw.run/env/<key>: VAR, substitution.aigw.run/file/<key>: path. A
// Secret that nothing aigw reads refers to is left as it is: a value it cannot get is not an
// error, since nothing would use it.
void substitute_secrets(api::Resources &res, const EnvLookup &env, api::Diagnostics &diag);

// The text of a file, or of a directory's YAML files joined as one multi-document stream.
Result<std::string> read_config_source(const std::string &path);
// The texts of several paths joined as one multi-document stream.
Result<std::string> read_config_sources(const std::vector<std::string> &paths);
// How messages name a set of paths: "a.yaml" or "a.yaml, dir".
std::string describe_paths(const std::vector<std::string> &paths);

} // namespace aigw::control
