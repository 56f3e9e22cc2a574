#pragma once
// The little JSON writing that the trace and the HTML report need.

#include <cstdio>
#include <string>
#include <string_view>

namespace confut::detail {

/// Appends `text` as a JSON string literal (quoted, escaped) to `out`.
inline void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else if (c == '<') {
          out += "\\u003c";  // keeps "</script>" harmless when the JSON sits in an HTML page
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

/// A number of microseconds with nanosecond precision, as JSON wants it (no exponent).
inline void append_json_microseconds(std::string& out, long long nanoseconds) {
  char text[40];
  const bool negative = nanoseconds < 0;
  const unsigned long long magnitude =
      negative ? 0ULL - static_cast<unsigned long long>(nanoseconds)
               : static_cast<unsigned long long>(nanoseconds);
  std::snprintf(text, sizeof text, "%s%llu.%03llu", negative ? "-" : "", magnitude / 1000,
                magnitude % 1000);
  out += text;
}

}  // namespace confut::detail
