// Environment expansion; see env_expand.h.
#include "control/env_expand.h"

#include <cctype>
#include <cstdlib>

namespace aigw::control {

EnvLookup process_env() {
  return [](const std::string &name) -> std::optional<std::string> {
    const char *v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

namespace {

class Expander {
public:
  Expander(std::string_view text, const EnvLookup &env, std::vector<std::string> *unset,
           std::vector<size_t> *unset_at)
      : text_(text), env_(env), unset_(unset), unset_at_(unset_at) {
    out_.reserve(text.size());
  }

  std::string run() {
    size_t pos = 0;
    while (pos < text_.size()) {
      size_t nl = text_.find('\n', pos);
      size_t end = nl == std::string_view::npos ? text_.size() : nl + 1;
      line(pos, end);
      pos = end;
    }
    return std::move(out_);
  }

private:
  // One line, [begin, end) including its newline.
  void line(size_t begin, size_t end) {
    size_t indent = begin;
    while (indent < end && text_[indent] == ' ')
      ++indent;
    bool blank = indent == end || text_[indent] == '\n' || text_[indent] == '\r';
    if (block_parent_ >= 0 && quote_ == 0) {
      if (blank || static_cast<long>(indent - begin) > block_parent_) {
        copy_expanding(begin, end); // block scalar content: `#` is text, not a comment
        return;
      }
      block_parent_ = -1;
    }
    char last_nonspace = 0; // outside quotes, on this line
    size_t content_end = end;
    size_t i = begin;
    while (i < end) {
      char c = text_[i];
      if (c == '$' && i + 1 < end && text_[i + 1] == '{') {
        i = expand_at(i);
        last_nonspace = '}';
        continue;
      }
      if (quote_ == '"') {
        if (c == '\\' && i + 1 < end) {
          out_ += c;
          c = text_[++i];
        } else if (c == '"') {
          quote_ = 0;
        }
      } else if (quote_ == '\'') {
        if (c == '\'') {
          if (i + 1 < end && text_[i + 1] == '\'')
            out_ += text_[i++]; // '' is an escaped quote
          else
            quote_ = 0;
        }
      } else if (c == '#' && (i == begin || text_[i - 1] == ' ' || text_[i - 1] == '\t')) {
        content_end = i;
        out_.append(text_.substr(i, end - i)); // a comment: verbatim
        break;
      } else if ((c == '"' || c == '\'') &&
                 (last_nonspace == 0 ||
                  std::string_view(":-[{,?").find(last_nonspace) != std::string_view::npos)) {
        quote_ = c;
      }
      if (quote_ == 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r') last_nonspace = c;
      out_ += c;
      ++i;
    }
    if (quote_ == 0) note_block_indicator(begin, indent, content_end);
  }

  // `key: |`, `- >-`, `key: |2`: the following more-indented lines are a block scalar.
  void note_block_indicator(size_t begin, size_t indent, size_t content_end) {
    size_t e = content_end;
    while (e > indent && std::isspace(static_cast<unsigned char>(text_[e - 1])))
      --e;
    size_t s = e;
    while (s > indent && (text_[s - 1] == '-' || text_[s - 1] == '+' ||
                          std::isdigit(static_cast<unsigned char>(text_[s - 1]))))
      --s;
    if (s == indent || (text_[s - 1] != '|' && text_[s - 1] != '>')) return;
    --s;
    if (s > indent && text_[s - 1] != ' ') return;
    // The content must be indented more than the key (or the `-` of a sequence item) it
    // belongs to.
    size_t key = indent;
    size_t last_dash = indent;
    while (key < s && text_[key] == '-' && key + 1 < e && text_[key + 1] == ' ') {
      last_dash = key;
      key += 2;
      while (key < s && text_[key] == ' ')
        ++key;
    }
    block_parent_ = static_cast<long>((key == s ? last_dash : key) - begin);
  }

  void copy_expanding(size_t begin, size_t end) {
    size_t i = begin;
    while (i < end) {
      if (text_[i] == '$' && i + 1 < end && text_[i + 1] == '{')
        i = expand_at(i);
      else
        out_ += text_[i++];
    }
  }

  // At a `${`: appends the expansion (or the `$` alone when it is not a variable reference)
  // and returns where to continue.
  size_t expand_at(size_t i) {
    size_t close = text_.find('}', i + 2);
    size_t nl = text_.find('\n', i + 2);
    if (close != std::string_view::npos && nl != std::string_view::npos && nl < close)
      close = std::string_view::npos;
    std::string_view inner =
        close == std::string_view::npos ? std::string_view() : text_.substr(i + 2, close - i - 2);
    size_t name_len = 0;
    while (name_len < inner.size() &&
           (std::isalnum(static_cast<unsigned char>(inner[name_len])) || inner[name_len] == '_'))
      ++name_len;
    bool valid = close != std::string_view::npos && name_len > 0 &&
                 !std::isdigit(static_cast<unsigned char>(inner[0])) &&
                 (name_len == inner.size() || inner.substr(name_len, 2) == ":-");
    if (!valid) {
      out_ += '$';
      return i + 1;
    }
    std::string name(inner.substr(0, name_len));
    auto value = env_(name);
    if (value && !value->empty()) {
      out_ += *value;
    } else if (name_len < inner.size()) {
      out_ += inner.substr(name_len + 2); // the default
    } else if (!value && unset_) {
      unset_->push_back(name);
      if (unset_at_) unset_at_->push_back(i);
    }
    return close + 1;
  }

  std::string_view text_;
  const EnvLookup &env_;
  std::vector<std::string> *unset_;
  std::vector<size_t> *unset_at_;
  std::string out_;
  char quote_ = 0;         // the open flow scalar's quote, which may span lines
  long block_parent_ = -1; // inside a block scalar: the indent its lines must exceed
};

} // namespace

std::string expand_env(std::string_view text, const EnvLookup &env, std::vector<std::string> *unset,
                       std::vector<size_t> *unset_at) {
  return Expander(text, env, unset, unset_at).run();
}

} // namespace aigw::control
