// libFuzzer target: bytes from a "server", split at fuzzer-chosen points,
// through cpc::ResponseParser (begin / feed / finish).
//
// Input layout (make-corpus.js writes seeds in it):
//   u8  flags   bit0 HEAD request; bits1-2 body limit {none, 0, 16, 4096};
//               bit3 header limit 64 instead of 16384; bit4 EOF (finish())
//               when the bytes end before the response does
//   u8  n       number of split points (n & 15)
//   n x u16     chunk lengths, little-endian (clamped to what is left)
//   ...         the bytes the server sends
//
// One parser parses, in turn: the stream in the chosen chunks; then, when
// that response completed early, the bytes after it as the next response
// (keep-alive reuse); then the whole stream again in one feed. Checked:
// feed() never reports more bytes than it was given; a complete response
// has a final status (200..999), a body within the limit (empty for HEAD,
// 204 and 304) and headers within the header limit; an error carries one
// of the codes the parser may produce; and the split points never change
// the outcome.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/response_parser.h"
#include "fuzz_input.h"

namespace {

using cpc::ErrorCode;
using cpc::Response;
using cpc::ResponseParser;
using Status = ResponseParser::Status;

struct Limits {
  bool head = false;
  uint64_t max_header = 16384;
  uint64_t max_body = UINT64_MAX;
};

struct Outcome {
  Status status = Status::kNeedMore;
  ErrorCode code = ErrorCode::kOk;
  std::string reason;
  size_t consumed = 0;  // bytes of the stream that belong to the response
  Response response;
  bool keep_alive = false;
};

const char* status_name(Status s) {
  switch (s) {
    case Status::kNeedMore: return "need-more";
    case Status::kComplete: return "complete";
    case Status::kError: return "error";
  }
  return "?";
}

void check_response(const Outcome& o, const Limits& lim) {
  if (o.status == Status::kComplete) {
    const Response& r = o.response;
    // A status line needs a three-digit code (RFC 9112 4); llhttp 8.1 also
    // takes "HTTP/1.1 \r\n" (0) and "HTTP/1.1 99" (reported: core bug).
    FUZZ_CHECK((r.status >= 200 && r.status <= 999) || cpc_fuzz::tolerated("status-range"),
               "complete response with status %u", r.status);
    if (lim.max_body != UINT64_MAX) {
      FUZZ_CHECK(r.body.size() <= lim.max_body, "body %zu > limit %llu", r.body.size(),
                 static_cast<unsigned long long>(lim.max_body));
    }
    if (lim.head || r.status == 204 || r.status == 304) {
      FUZZ_CHECK(r.body.empty(), "bodiless response (status %u, head %d) has a %zu-byte body",
                 r.status, lim.head, r.body.size());
    }
    FUZZ_CHECK(r.status_message.size() + r.header_bytes.size() <= lim.max_header,
               "header section %zu > limit %llu", r.status_message.size() + r.header_bytes.size(),
               static_cast<unsigned long long>(lim.max_header));
    for (const cpc::HeaderSpan& h : r.headers) {
      FUZZ_CHECK(uint64_t{h.name_offset} + h.name_length <= r.header_bytes.size() &&
                     uint64_t{h.value_offset} + h.value_length <= r.header_bytes.size(),
                 "header span outside the arena");
      for (char c : r.header_name(h)) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "header name not lower-cased");
    }
  } else if (o.status == Status::kError) {
    FUZZ_CHECK(o.code == ErrorCode::kParse || o.code == ErrorCode::kResponseTooLarge ||
                   o.code == ErrorCode::kUnsupported || o.code == ErrorCode::kSocketClosed,
               "unexpected error code %d", static_cast<int>(o.code));
    if (o.code == ErrorCode::kParse) {
      FUZZ_CHECK(o.reason.rfind("HPE_", 0) == 0, "parse error without an HPE_ reason: '%s'",
                 o.reason.c_str());
    }
  }
}

// begin()s `p` for a response into o->response, feeds `stream` in `chunks`
// (then the rest in one piece), and finish() at the end when `eof`.
void parse(ResponseParser& p, const Limits& lim, const std::string& stream,
           const std::vector<size_t>& chunks, bool eof, Outcome* out) {
  Outcome& o = *out;
  p.begin(&o.response, lim.head, lim.max_header, lim.max_body);
  FUZZ_CHECK(!p.started(), "started() right after begin()");
  size_t pos = 0;
  // Each chosen chunk (zero-length feeds included), then whatever is left.
  for (size_t i = 0; i <= chunks.size(); i++) {
    const size_t left = stream.size() - pos;
    const size_t len = i < chunks.size() && chunks[i] < left ? chunks[i] : left;
    size_t consumed = static_cast<size_t>(-1);
    o.status = p.feed(stream.data() + pos, len, &consumed);
    FUZZ_CHECK(consumed <= len, "feed(%zu bytes) consumed %zu", len, consumed);
    if (o.status == Status::kComplete) {
      o.consumed = pos + consumed;
      break;
    }
    if (o.status == Status::kError) break;
    FUZZ_CHECK(consumed == len, "need-more after consuming %zu of %zu", consumed, len);
    pos += len;
    o.consumed = pos;
  }
  if (o.status == Status::kNeedMore && eof) o.status = p.finish();
  if (o.status == Status::kError) {
    o.code = p.error().code;
    o.reason = p.error().reason;
    FUZZ_CHECK(!p.error().ok(), "kError without an error");
  }
  if (o.status == Status::kComplete) o.keep_alive = p.keep_alive();
  // A settled parser stays settled.
  if (o.status != Status::kNeedMore) {
    size_t consumed = 0;
    Status again = p.feed("x", 1, &consumed);
    FUZZ_CHECK(again == o.status, "feed after %s returned %s", status_name(o.status),
               status_name(again));
    FUZZ_CHECK(consumed <= 1, "feed after settling consumed %zu", consumed);
  }
}

void same(const Outcome& a, const Outcome& b) {
  FUZZ_CHECK(a.status == b.status, "split: %s, whole: %s", status_name(a.status), status_name(b.status));
  FUZZ_CHECK(a.code == b.code, "split: code %d, whole: code %d", static_cast<int>(a.code),
             static_cast<int>(b.code));
  if (a.status == Status::kComplete) {
    FUZZ_CHECK(a.consumed == b.consumed, "split consumed %zu, whole %zu", a.consumed, b.consumed);
    FUZZ_CHECK(a.response.status == b.response.status, "status %u vs %u", a.response.status,
               b.response.status);
    FUZZ_CHECK(a.response.body == b.response.body, "bodies differ (%zu vs %zu bytes)",
               a.response.body.size(), b.response.body.size());
    FUZZ_CHECK(a.response.status_message == b.response.status_message, "status messages differ");
    FUZZ_CHECK(a.response.headers.size() == b.response.headers.size(), "header counts %zu vs %zu",
               a.response.headers.size(), b.response.headers.size());
    for (size_t i = 0; i < a.response.headers.size(); i++) {
      const cpc::HeaderSpan& x = a.response.headers[i];
      const cpc::HeaderSpan& y = b.response.headers[i];
      FUZZ_CHECK(a.response.header_name(x) == b.response.header_name(y) &&
                     a.response.header_value(x) == b.response.header_value(y),
                 "header %zu differs", i);
    }
    FUZZ_CHECK(a.keep_alive == b.keep_alive, "keep-alive %d vs %d", a.keep_alive, b.keep_alive);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cpc_fuzz::Input in(data, size);
  const uint8_t flags = in.u8();
  Limits lim;
  lim.head = flags & 1;
  static const uint64_t kBodyLimits[] = {UINT64_MAX, 0, 16, 4096};
  lim.max_body = kBodyLimits[(flags >> 1) & 3];
  lim.max_header = (flags & 8) ? 64 : 16384;
  const bool eof = flags & 16;
  std::vector<size_t> chunks(in.u8() & 15);
  for (size_t& c : chunks) c = in.u16();
  const std::string stream = in.rest();

  static ResponseParser* parser = new ResponseParser();  // reused across inputs too
  ResponseParser& p = *parser;

  Outcome split;
  parse(p, lim, stream, chunks, eof, &split);
  check_response(split, lim);

  // Keep-alive reuse: the bytes after a complete response are the next one.
  if (split.status == Status::kComplete && split.consumed < stream.size()) {
    const Limits next_lim{false, lim.max_header, lim.max_body};
    Outcome next;
    parse(p, next_lim, stream.substr(split.consumed), {}, eof, &next);
    check_response(next, next_lim);
  }

  // The same bytes in one feed, on the same (reused) parser: same outcome.
  Outcome whole;
  parse(p, lim, stream, {}, eof, &whole);
  same(split, whole);
  return 0;
}
