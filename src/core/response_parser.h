// Wraps llhttp (strict mode) for one connection: feeds socket bytes in,
// fills a Response, and says when the response is complete, needs more
// bytes, or is malformed. 1xx responses are skipped; HEAD, 204 and 304 have
// no body; a close-delimited body completes on finish() (EOF).
//
// Completion pauses the parser, so bytes after a complete response are
// never parsed as another response: feed() reports how many bytes it
// consumed and the caller decides what the rest means (for the pool: the
// socket is not reused).
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/errors.h"
#include "core/response.h"

namespace cpc {

class ResponseParser {
 public:
  enum class Status { kNeedMore, kComplete, kError };

  ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Prepares for the response to a new request. `out` is borrowed until the
  // response completes or fails. max_body_bytes == UINT64_MAX: no limit.
  void begin(Response* out, bool head_request, uint64_t max_header_bytes,
             uint64_t max_body_bytes);

  // Parses `len` bytes. *consumed is how many belong to this response (all
  // of them unless the status is kComplete or kError).
  Status feed(const char* data, size_t len, size_t* consumed);

  // The peer closed: completes a close-delimited body, or fails with
  // kSocketClosed when the response is incomplete.
  Status finish();

  // True once any byte of the response arrived (the idle-socket race rule).
  bool started() const { return started_; }
  // Valid after kComplete: may the connection carry another request?
  bool keep_alive() const { return keep_alive_; }
  // Keep-Alive: timeout=N from the server, in seconds (valid when
  // has_keep_alive_hint(); N may be 0, meaning "do not reuse").
  bool has_keep_alive_hint() const { return has_keep_alive_hint_; }
  uint32_t keep_alive_timeout_s() const { return keep_alive_timeout_s_; }
  // Valid after kError (an ok Error otherwise).
  const Error& error() const;
  // Heap bytes held beyond the object itself (a failure's Error).
  size_t memory_bytes() const { return error_ ? sizeof(Error) : 0; }

 private:
  static int on_message_begin(llhttp_t* p);
  static int on_status(llhttp_t* p, const char* at, size_t len);
  static int on_header_field(llhttp_t* p, const char* at, size_t len);
  static int on_header_value(llhttp_t* p, const char* at, size_t len);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t len);
  static int on_message_complete(llhttp_t* p);
  static const llhttp_settings_t* settings();

  bool count_header_bytes(size_t len);
  void fail(ErrorCode code, const char* reason, const char* message);
  void scan_keep_alive_hint();

  llhttp_t parser_;
  Response* out_ = nullptr;       // borrowed for the current response
  uint64_t max_header_bytes_ = 0;
  uint64_t max_body_bytes_ = 0;
  uint64_t header_bytes_ = 0;
  uint32_t keep_alive_timeout_s_ = 0;
  bool has_keep_alive_hint_ = false;
  bool head_request_ = false;
  bool in_value_ = false;         // last header callback was a value
  bool in_trailers_ = false;      // past the header section: chunked trailers
  bool informational_ = false;    // parsing a 1xx that will be skipped
  bool complete_ = false;
  bool started_ = false;
  bool keep_alive_ = false;
  // Set once the response failed. Failures are rare, so a socket carries
  // a pointer, not a whole Error, while it waits idle.
  std::unique_ptr<Error> error_;
};

}  // namespace cpc
