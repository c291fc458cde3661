// A parsed HTTP response as the core hands it over: status line, headers
// (names lower-cased, in one byte arena so a response costs no allocation
// once the arena has grown), and the whole de-chunked body.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cpc {

struct HeaderSpan {
  uint32_t name_offset;
  uint32_t name_length;
  uint32_t value_offset;
  uint32_t value_length;
};

struct Response {
  uint16_t status = 0;
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  std::string status_message;
  std::string header_bytes;          // backing store of every HeaderSpan
  std::vector<HeaderSpan> headers;   // in arrival order, duplicates kept
  std::string body;

  std::string_view header_name(const HeaderSpan& h) const {
    return std::string_view(header_bytes).substr(h.name_offset, h.name_length);
  }
  std::string_view header_value(const HeaderSpan& h) const {
    return std::string_view(header_bytes).substr(h.value_offset, h.value_length);
  }
  // First value of a (lower-case) header, or an empty view.
  std::string_view find_header(std::string_view lower_name) const {
    for (const HeaderSpan& h : headers) {
      if (header_name(h) == lower_name) return header_value(h);
    }
    return {};
  }
  // Clears contents but keeps capacity, so steady-state reuse allocates nothing.
  void clear() {
    status = 0;
    http_major = 1;
    http_minor = 1;
    status_message.clear();
    header_bytes.clear();
    headers.clear();
    body.clear();
  }
  size_t capacity_bytes() const {
    return status_message.capacity() + header_bytes.capacity() +
           headers.capacity() * sizeof(HeaderSpan) + body.capacity();
  }
};

}  // namespace cpc
