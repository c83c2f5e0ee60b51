// multipart/form-data (RFC 7578) as the audio endpoints take it: the parts located in place (no
// copy), a form field read, and one field's value replaced with every other byte unchanged.
#pragma once

#include "core/result.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aigw::pipeline {

struct MultipartPart {
  std::string_view name;                 // the Content-Disposition name
  std::string_view filename;             // empty for a plain field
  size_t value_begin = 0, value_end = 0; // the part's content, as offsets into the body
};

// True for a `multipart/form-data` media type (any parameters).
bool is_multipart_form(std::string_view content_type);
// The boundary parameter of a multipart content type (quotes removed); nullopt when absent or
// not a valid boundary (RFC 2046: 1-70 characters).
std::optional<std::string_view> multipart_boundary(std::string_view content_type);

// The parts of `body`. At most `max_parts`; an error (400) for a body that is not well formed:
// no opening delimiter, a part without headers, or no closing delimiter.
Result<std::vector<MultipartPart>> parse_multipart(std::string_view body, std::string_view boundary,
                                                   size_t max_parts = 256);

// The value of the first plain field `name`, or nullopt.
std::optional<std::string_view> multipart_field(std::string_view body,
                                                const std::vector<MultipartPart> &parts,
                                                std::string_view name);

// `body` with the value of every field `name` replaced by `value` (a new field appended before
// the closing delimiter when there is none). The boundary is kept, so the content type stays
// valid; an error when `value` itself holds the delimiter.
Result<std::string> replace_multipart_field(std::string_view body, std::string_view boundary,
                                            const std::vector<MultipartPart> &parts,
                                            std::string_view name, std::string_view value);

} // namespace aigw::pipeline
