// Serialises a request head (request line + headers) and validates what the
// caller gave: method token, header names (tokens), header values (no CR, LF
// or NUL), the target, and headers the pool owns or refuses.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"

namespace cpc {

struct HeaderPair {
  std::string_view name;
  std::string_view value;
};

struct RequestSpec {
  std::string_view method;       // e.g. "GET"; a token, case kept as given
  std::string_view target;       // origin-form: "/path?query"
  std::string_view host_header;  // value for Host when the caller gives none
  const HeaderPair* headers = nullptr;
  size_t header_count = 0;
  size_t body_length = 0;
  bool keep_alive = true;        // pool's keepAlive: default Connection header
};

// What the writer learned about the request while serialising it.
struct RequestTraits {
  bool idempotent = false;     // GET, HEAD, OPTIONS, PUT, DELETE (TRACE too)
  bool head = false;           // HEAD: the response has no body
  bool close_after = false;    // the request asked for Connection: close
};

// Appends the head to *out (cleared first). Returns false with *err set
// (kInvalidArg or kUnsupported) when the request cannot be sent.
bool write_request_head(const RequestSpec& spec, std::string* out, RequestTraits* traits,
                        Error* err);

// write_request_head() with a memo of the last head it wrote: a service
// repeating one call (same method, target, headers and body length) gets a
// copy of the head it already validated and serialised. Failures are never
// remembered. One per pool; allocates only when a new head is longer than
// any before.
class RequestHeadCache {
 public:
  bool write(const RequestSpec& spec, std::string* out, RequestTraits* traits, Error* err);

 private:
  bool matches(const RequestSpec& spec) const;
  void remember(const RequestSpec& spec, const std::string& head, const RequestTraits& traits);

  bool valid_ = false;
  bool keep_alive_ = true;
  size_t body_length_ = 0;
  std::string method_;
  std::string target_;
  std::string host_header_;
  std::string header_bytes_;              // names and values back to back
  std::vector<uint32_t> header_lengths_;  // name, value, name, value...
  std::string head_;
  RequestTraits traits_;
};

bool is_token(std::string_view s);
bool is_valid_header_value(std::string_view s);

}  // namespace cpc
