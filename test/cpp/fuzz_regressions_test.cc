// Inputs the libFuzzer targets (test/fuzz) found, as unit tests of the unit
// that failed. Each test names the target and check that found it; the
// input itself also stays in test/fuzz/corpus/<target>/ so every fuzz run
// replays it.
#include <gtest/gtest.h>

#include <string>

#include "core/response_parser.h"

namespace cpc {
namespace {

using Status = ResponseParser::Status;

// Feeds `bytes` whole, then finish() (EOF) if the parser still needs more.
Status parse_then_eof(const std::string& bytes, Response* out, Error* err) {
  ResponseParser p;
  p.begin(out, false, 16384, UINT64_MAX);
  size_t consumed = 0;
  Status s = p.feed(bytes.data(), bytes.size(), &consumed);
  if (s == Status::kNeedMore) s = p.finish();
  *err = p.error();
  return s;
}

// Found by response_fuzz (check "status-range"), fixed: llhttp 8.1 accepts a status
// line whose code is not three digits — "HTTP/1.1 \r\n" yields status 0,
// "HTTP/1.1 99 OK" yields 99 — and ResponseParser completes the response, so
// execute() resolves with statusCode 0 or 99. Node's llhttp 9 rejects these
// with HPE_INVALID_STATUS; on_headers_complete now rejects codes outside
// 100..999 the same way.
TEST(FuzzRegressions, StatusLineWithoutThreeDigitCodeIsAParseError) {
  for (const std::string bytes : {
           std::string("HTTP/1.1 \r\nContent-Length: 2\r\n\r\nok"),
           std::string("HTTP/1.1 2 OK\r\nContent-Length: 2\r\n\r\nok"),
           std::string("HTTP/1.1 99 OK\r\nContent-Length: 2\r\n\r\nok"),
           std::string("HTTP/1.1 \r\n\r\nclose-delimited"),
           std::string("HTTP/1.1 \n\n"),
       }) {
    SCOPED_TRACE(bytes);
    Response r;
    Error err;
    EXPECT_EQ(parse_then_eof(bytes, &r, &err), Status::kError) << "status " << r.status;
    EXPECT_EQ(err.code, ErrorCode::kParse);
  }
}

}  // namespace
}  // namespace cpc
