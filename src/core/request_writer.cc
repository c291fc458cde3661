#include "core/request_writer.h"

#include <cstdio>

namespace cpc {
namespace {

// RFC 9110 tchar.
bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    unsigned char c = static_cast<unsigned char>(a[i]);
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c + 32);
    if (c != static_cast<unsigned char>(lower[i])) return false;
  }
  return true;
}

// Case-insensitive search for a comma-separated token ("close" in "Close, TE").
bool has_token(std::string_view value, std::string_view lower_token) {
  size_t i = 0;
  while (i <= value.size()) {
    size_t j = value.find(',', i);
    if (j == std::string_view::npos) j = value.size();
    std::string_view part = value.substr(i, j - i);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (iequals(part, lower_token)) return true;
    i = j + 1;
  }
  return false;
}

bool fail(Error* err, ErrorCode code, std::string message) {
  *err = make_error(code, std::move(message));
  return false;
}

bool is_valid_target(std::string_view t) {
  if (t.empty()) return false;
  if (t != "*" && t.front() != '/') return false;
  for (unsigned char c : t) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool parse_decimal(std::string_view s, size_t* out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty() || s.size() > 15) return false;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return true;
}

void append_header(std::string* out, std::string_view name, std::string_view value) {
  out->append(name);
  out->append(": ", 2);
  out->append(value);
  out->append("\r\n", 2);
}

}  // namespace

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_valid_header_value(std::string_view s) {
  // Like Node's checkInvalidHeaderChar: HTAB, visible ASCII, SP and obs-text.
  for (unsigned char c : s) {
    if (c == '\t') continue;
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool write_request_head(const RequestSpec& spec, std::string* out, RequestTraits* traits,
                        Error* err) {
  *traits = RequestTraits{};
  if (!is_token(spec.method)) {
    return fail(err, ErrorCode::kInvalidArg, "Invalid HTTP method: not a token");
  }
  if (iequals(spec.method, "connect")) {
    return fail(err, ErrorCode::kUnsupported, "CONNECT requests are not supported by the pool");
  }
  if (!is_valid_target(spec.target)) {
    return fail(err, ErrorCode::kInvalidArg, "Invalid request target");
  }
  const std::string_view m = spec.method;
  traits->head = iequals(m, "head");
  traits->idempotent = traits->head || iequals(m, "get") || iequals(m, "options") ||
                       iequals(m, "put") || iequals(m, "delete") || iequals(m, "trace");

  out->clear();
  out->append(m);
  out->push_back(' ');
  out->append(spec.target);
  out->append(" HTTP/1.1\r\n", 11);

  bool has_host = false;
  bool has_connection = false;
  bool has_content_length = false;
  for (size_t i = 0; i < spec.header_count; i++) {
    const HeaderPair& h = spec.headers[i];
    if (!is_token(h.name)) {
      return fail(err, ErrorCode::kInvalidArg,
                  "Invalid header name: \"" + std::string(h.name.substr(0, 64)) + "\"");
    }
    if (!is_valid_header_value(h.value)) {
      return fail(err, ErrorCode::kInvalidArg,
                  "Invalid value for header \"" + std::string(h.name) +
                      "\": contains CR, LF, NUL or another control character");
    }
    const std::string_view n = h.name;
    if (n.size() == 4 && iequals(n, "host")) {
      has_host = true;
    } else if (n.size() == 10 && iequals(n, "connection")) {
      has_connection = true;
      if (has_token(h.value, "close")) traits->close_after = true;
      if (has_token(h.value, "upgrade")) {
        return fail(err, ErrorCode::kUnsupported, "Connection upgrades are not supported by the pool");
      }
    } else if (n.size() == 14 && iequals(n, "content-length")) {
      size_t declared;
      if (!parse_decimal(h.value, &declared) || declared != spec.body_length) {
        return fail(err, ErrorCode::kInvalidArg,
                    "content-length header does not match the body length (" +
                        std::to_string(spec.body_length) + ")");
      }
      if (has_content_length) continue;  // never send two
      has_content_length = true;
    } else if (n.size() == 17 && iequals(n, "transfer-encoding")) {
      return fail(err, ErrorCode::kInvalidArg,
                  "transfer-encoding cannot be set: the pool sends bodies with content-length");
    } else if (n.size() == 7 && iequals(n, "upgrade")) {
      return fail(err, ErrorCode::kUnsupported, "Connection upgrades are not supported by the pool");
    } else if (n.size() == 6 && iequals(n, "expect")) {
      return fail(err, ErrorCode::kInvalidArg, "expect header is not supported");
    }
    append_header(out, h.name, h.value);
  }
  if (!has_host) append_header(out, "Host", spec.host_header);
  if (!has_connection) {
    append_header(out, "Connection", spec.keep_alive ? "keep-alive" : "close");
  }
  if (!has_content_length) {
    // Like undici: bodies, and the methods that expect one, carry a length.
    bool expects_body = iequals(m, "post") || iequals(m, "put") || iequals(m, "patch");
    if (spec.body_length > 0 || expects_body) {
      char num[24];
      int n = snprintf(num, sizeof(num), "%zu", spec.body_length);
      append_header(out, "Content-Length", std::string_view(num, static_cast<size_t>(n)));
    }
  }
  out->append("\r\n", 2);
  return true;
}

bool RequestHeadCache::matches(const RequestSpec& spec) const {
  if (!valid_ || spec.body_length != body_length_ || spec.keep_alive != keep_alive_ ||
      spec.header_count * 2 != header_lengths_.size() || spec.method != method_ ||
      spec.target != target_ || spec.host_header != host_header_) {
    return false;
  }
  const std::string_view bytes(header_bytes_);
  size_t at = 0;
  for (size_t i = 0; i < spec.header_count; i++) {
    const HeaderPair& h = spec.headers[i];
    if (h.name.size() != header_lengths_[2 * i] || h.value.size() != header_lengths_[2 * i + 1] ||
        bytes.substr(at, h.name.size()) != h.name ||
        bytes.substr(at + h.name.size(), h.value.size()) != h.value) {
      return false;
    }
    at += h.name.size() + h.value.size();
  }
  return true;
}

void RequestHeadCache::remember(const RequestSpec& spec, const std::string& head,
                                const RequestTraits& traits) {
  valid_ = true;
  keep_alive_ = spec.keep_alive;
  body_length_ = spec.body_length;
  method_.assign(spec.method);
  target_.assign(spec.target);
  host_header_.assign(spec.host_header);
  header_bytes_.clear();
  header_lengths_.clear();
  for (size_t i = 0; i < spec.header_count; i++) {
    const HeaderPair& h = spec.headers[i];
    header_bytes_.append(h.name).append(h.value);
    header_lengths_.push_back(static_cast<uint32_t>(h.name.size()));
    header_lengths_.push_back(static_cast<uint32_t>(h.value.size()));
  }
  head_.assign(head);
  traits_ = traits;
}

bool RequestHeadCache::write(const RequestSpec& spec, std::string* out, RequestTraits* traits,
                             Error* err) {
  if (matches(spec)) {
    out->assign(head_);
    *traits = traits_;
    return true;
  }
  if (!write_request_head(spec, out, traits, err)) return false;
  remember(spec, *out, *traits);
  return true;
}

}  // namespace cpc
