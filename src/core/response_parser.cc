#include "core/response_parser.h"

#include <cstring>

namespace cpc {
namespace {

ResponseParser* self(llhttp_t* p) { return static_cast<ResponseParser*>(p->data); }

// ASCII lower-case of every byte value (others unchanged): one load per
// byte instead of two compares and a branch.
struct LowerTable {
  unsigned char map[256];
  constexpr LowerTable() : map() {
    for (int c = 0; c < 256; c++) map[c] = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
};
constexpr LowerTable kLower;

void append_lower(std::string* s, const char* at, size_t len) {
  const size_t base = s->size();
  s->append(at, len);
  // Through a local pointer: writes through (*s)[i] may alias the string's
  // own size and data fields, which made the compiler reload both per byte.
  unsigned char* p = reinterpret_cast<unsigned char*>(&(*s)[base]);
  for (size_t i = 0; i < len; i++) p[i] = kLower.map[p[i]];
}

}  // namespace

const llhttp_settings_t* ResponseParser::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_message_begin = on_message_begin;
    st.on_status = on_status;
    st.on_header_field = on_header_field;
    st.on_header_value = on_header_value;
    st.on_headers_complete = on_headers_complete;
    st.on_body = on_body;
    st.on_message_complete = on_message_complete;
    return st;
  }();
  return &s;
}

ResponseParser::ResponseParser() {
  llhttp_init(&parser_, HTTP_RESPONSE, settings());
  parser_.data = this;
}

void ResponseParser::begin(Response* out, bool head_request, uint64_t max_header_bytes,
                           uint64_t max_body_bytes) {
  llhttp_reset(&parser_);
  parser_.data = this;
  out_ = out;
  out_->clear();
  head_request_ = head_request;
  max_header_bytes_ = max_header_bytes;
  max_body_bytes_ = max_body_bytes;
  header_bytes_ = 0;
  keep_alive_timeout_s_ = 0;
  has_keep_alive_hint_ = false;
  in_value_ = false;
  in_trailers_ = false;
  informational_ = false;
  complete_ = false;
  started_ = false;
  keep_alive_ = false;
  error_.reset();
}

const Error& ResponseParser::error() const {
  static const Error kNone;
  return error_ ? *error_ : kNone;
}

void ResponseParser::fail(ErrorCode code, const char* reason, const char* message) {
  if (error_) return;
  error_ = std::make_unique<Error>(make_error(code, message, reason));
}

ResponseParser::Status ResponseParser::feed(const char* data, size_t len, size_t* consumed) {
  *consumed = len;
  if (error_) return Status::kError;
  if (complete_) {
    *consumed = 0;
    return Status::kComplete;
  }
  if (len > 0) started_ = true;
  llhttp_errno_t rc = llhttp_execute(&parser_, data, len);
  if (error_) return Status::kError;  // set by one of our callbacks
  if (rc == HPE_OK) return Status::kNeedMore;
  if (rc == HPE_PAUSED && complete_) {
    *consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    return Status::kComplete;
  }
  const char* reason = llhttp_errno_name(rc);
  const char* detail = llhttp_get_error_reason(&parser_);
  std::string message = "Malformed HTTP response: ";
  message += detail ? detail : reason;
  error_ = std::make_unique<Error>(make_error(ErrorCode::kParse, std::move(message), reason));
  return Status::kError;
}

ResponseParser::Status ResponseParser::finish() {
  if (error_) return Status::kError;
  if (complete_) return Status::kComplete;
  if (started_ && llhttp_message_needs_eof(&parser_)) {
    llhttp_errno_t rc = llhttp_finish(&parser_);
    if (complete_ && (rc == HPE_OK || rc == HPE_PAUSED)) {
      keep_alive_ = false;  // close-delimited: the connection is gone anyway
      return Status::kComplete;
    }
  }
  error_ = std::make_unique<Error>(make_error(
      ErrorCode::kSocketClosed,
      started_ ? "The server closed the connection before the response was complete"
               : "The server closed the connection without sending a response"));
  return Status::kError;
}

bool ResponseParser::count_header_bytes(size_t len) {
  header_bytes_ += len;
  if (header_bytes_ > max_header_bytes_) {
    fail(ErrorCode::kParse, "HPE_HEADER_OVERFLOW", "Response header section exceeds the size limit");
    return false;
  }
  return true;
}

int ResponseParser::on_message_begin(llhttp_t* p) {
  ResponseParser* s = self(p);
  s->in_value_ = false;
  return 0;
}

int ResponseParser::on_status(llhttp_t* p, const char* at, size_t len) {
  ResponseParser* s = self(p);
  if (!s->count_header_bytes(len)) return -1;
  s->out_->status_message.append(at, len);
  return 0;
}

int ResponseParser::on_header_field(llhttp_t* p, const char* at, size_t len) {
  ResponseParser* s = self(p);
  if (!s->count_header_bytes(len)) return -1;
  if (s->in_trailers_) return 0;  // trailers are counted, not delivered (API.md has no trailers)
  Response* r = s->out_;
  if (r->headers.empty() || s->in_value_) {
    uint32_t off = static_cast<uint32_t>(r->header_bytes.size());
    r->headers.push_back(HeaderSpan{off, 0, off, 0});
    s->in_value_ = false;
  }
  append_lower(&r->header_bytes, at, len);
  r->headers.back().name_length += static_cast<uint32_t>(len);
  r->headers.back().value_offset = static_cast<uint32_t>(r->header_bytes.size());
  return 0;
}

int ResponseParser::on_header_value(llhttp_t* p, const char* at, size_t len) {
  ResponseParser* s = self(p);
  if (!s->count_header_bytes(len)) return -1;
  if (s->in_trailers_) return 0;
  Response* r = s->out_;
  if (r->headers.empty()) return 0;  // llhttp never does this; be safe
  s->in_value_ = true;
  r->header_bytes.append(at, len);
  r->headers.back().value_length += static_cast<uint32_t>(len);
  return 0;
}

void ResponseParser::scan_keep_alive_hint() {
  std::string_view v = out_->find_header("keep-alive");
  if (v.empty()) return;
  // "timeout=5, max=1000" (case-insensitive name)
  for (size_t i = 0; i + 8 <= v.size(); i++) {
    if (strncasecmp(v.data() + i, "timeout=", 8) != 0) continue;
    uint64_t n = 0;
    size_t j = i + 8;
    bool digits = false;
    while (j < v.size() && v[j] >= '0' && v[j] <= '9' && n < 100000000) {
      n = n * 10 + static_cast<uint64_t>(v[j] - '0');
      j++;
      digits = true;
    }
    if (digits) {
      has_keep_alive_hint_ = true;
      keep_alive_timeout_s_ = static_cast<uint32_t>(n);
    }
    return;
  }
}

int ResponseParser::on_headers_complete(llhttp_t* p) {
  ResponseParser* s = self(p);
  Response* r = s->out_;
  // llhttp 8.1 takes any number as the status ("HTTP/1.1 2 OK"); HTTP
  // says three digits (RFC 9112 4), and Node's parser agrees.
  if (p->status_code < 100 || p->status_code > 999) {
    s->fail(ErrorCode::kParse, "HPE_INVALID_STATUS", "Malformed HTTP response: invalid status code");
    return -1;
  }
  r->status = p->status_code;
  r->http_major = p->http_major;
  r->http_minor = p->http_minor;
  if (p->status_code >= 100 && p->status_code < 200) {
    if (p->status_code == 101) {
      s->fail(ErrorCode::kUnsupported, "", "Protocol upgrades (101) are not supported by the pool");
      return -1;
    }
    s->informational_ = true;
    return 0;
  }
  if (s->max_body_bytes_ != UINT64_MAX && (p->flags & F_CONTENT_LENGTH) &&
      p->content_length > s->max_body_bytes_ && !s->head_request_ && p->status_code != 204 &&
      p->status_code != 304) {
    s->fail(ErrorCode::kResponseTooLarge, "",
            "Response body exceeds maxResponseSize (declared content-length)");
    return -1;
  }
  s->scan_keep_alive_hint();
  s->in_trailers_ = true;  // header callbacks from here on are chunked trailers
  // 1 tells llhttp no body follows, whatever Content-Length says: responses
  // to HEAD, and 204/304 (RFC 9110 15.3.5, 15.4.5), like Node's client.
  const bool bodiless = s->head_request_ || p->status_code == 204 || p->status_code == 304;
  return bodiless ? 1 : 0;
}

int ResponseParser::on_body(llhttp_t* p, const char* at, size_t len) {
  ResponseParser* s = self(p);
  Response* r = s->out_;
  if (s->max_body_bytes_ != UINT64_MAX && r->body.size() + len > s->max_body_bytes_) {
    s->fail(ErrorCode::kResponseTooLarge, "", "Response body exceeds maxResponseSize");
    return -1;
  }
  r->body.append(at, len);
  return 0;
}

int ResponseParser::on_message_complete(llhttp_t* p) {
  ResponseParser* s = self(p);
  if (s->informational_) {
    // Skip 100 Continue / 103 Early Hints: the real response follows.
    s->informational_ = false;
    s->out_->clear();
    s->header_bytes_ = 0;
    s->in_value_ = false;
    return 0;
  }
  s->keep_alive_ = llhttp_should_keep_alive(p) != 0;
  s->complete_ = true;
  return HPE_PAUSED;
}

}  // namespace cpc
