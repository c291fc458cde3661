// The llhttp wrapper, fed whole, split at every point and byte by byte:
// framing (Content-Length, chunked, close-delimited, HEAD, 204, 304, 1xx),
// keep-alive, header handling, limits, malformed input, bytes after a
// complete response, and reuse of one parser for the next response.
#include "core/response_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace cpc {
namespace {

using Status = ResponseParser::Status;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr uint64_t kNoLimit = UINT64_MAX;

struct Outcome {
  Status status = Status::kNeedMore;
  size_t consumed = 0;  // bytes of the input that belong to the response
  Response response;
  Error error;
  bool keep_alive = false;
  bool has_hint = false;
  uint32_t hint_s = 0;
};

Headers headers_of(const Response& r) {
  Headers h;
  for (const HeaderSpan& s : r.headers) {
    h.emplace_back(std::string(r.header_name(s)), std::string(r.header_value(s)));
  }
  return h;
}

struct Options {
  bool head = false;
  uint64_t max_header = 16384;
  uint64_t max_body = kNoLimit;
  bool finish = false;  // call finish() (EOF) after the last piece
};

// Feeds `msg` in pieces cut at `cuts` (ascending offsets). Stops at the
// first status other than kNeedMore, like the pool does.
Outcome parse_pieces(std::string_view msg, const std::vector<size_t>& cuts, const Options& o) {
  ResponseParser p;
  Outcome out;
  p.begin(&out.response, o.head, o.max_header, o.max_body);
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(msg.size());
  for (size_t end : ends) {
    size_t consumed = 0;
    out.status = p.feed(msg.data() + from, end - from, &consumed);
    if (out.status != Status::kNeedMore) {
      out.consumed = from + consumed;
      break;
    }
    from = end;
    out.consumed = from;
  }
  if (out.status == Status::kNeedMore && o.finish) out.status = p.finish();
  out.error = p.error();
  out.keep_alive = p.keep_alive();
  out.has_hint = p.has_keep_alive_hint();
  out.hint_s = p.keep_alive_timeout_s();
  return out;
}

Outcome parse_whole(std::string_view msg, const Options& o = {}) { return parse_pieces(msg, {}, o); }

// Parses `msg` whole, then split in two at every offset, then byte by byte,
// and checks that every way of feeding gives the same outcome.
Outcome parse_every_way(std::string_view msg, const Options& o = {}) {
  const Outcome whole = parse_whole(msg, o);
  std::vector<std::vector<size_t>> ways;
  for (size_t i = 1; i < msg.size(); i++) ways.push_back({i});
  std::vector<size_t> bytes;
  for (size_t i = 1; i < msg.size(); i++) bytes.push_back(i);
  ways.push_back(bytes);
  for (const auto& cuts : ways) {
    const Outcome got = parse_pieces(msg, cuts, o);
    const std::string how = cuts.size() == 1 ? "split at " + std::to_string(cuts[0]) : "byte by byte";
    EXPECT_EQ(got.status, whole.status) << how;
    // After an error the partial response is thrown away with the socket:
    // only the error itself must not depend on how the bytes were cut.
    if (whole.status != Status::kError) {
      EXPECT_EQ(got.consumed, whole.consumed) << how;
      EXPECT_EQ(got.response.status, whole.response.status) << how;
      EXPECT_EQ(got.response.status_message, whole.response.status_message) << how;
      EXPECT_EQ(headers_of(got.response), headers_of(whole.response)) << how;
      EXPECT_EQ(got.response.body, whole.response.body) << how;
    }
    EXPECT_EQ(got.error.code, whole.error.code) << how;
    EXPECT_EQ(got.error.reason, whole.error.reason) << how;
    EXPECT_EQ(got.keep_alive, whole.keep_alive) << how;
    EXPECT_EQ(got.has_hint, whole.has_hint) << how;
    if (::testing::Test::HasFailure()) break;  // one report per message is enough
  }
  return whole;
}

const char kContentLength[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 11\r\n"
    "\r\n"
    "hello world";

TEST(ResponseParser, ContentLengthBodyInEveryFeeding) {
  Outcome o = parse_every_way(kContentLength);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.consumed, sizeof(kContentLength) - 1);
  EXPECT_EQ(o.response.status, 200);
  EXPECT_EQ(o.response.status_message, "OK");
  EXPECT_EQ(o.response.body, "hello world");
  EXPECT_EQ(headers_of(o.response),
            (Headers{{"content-type", "text/plain"}, {"content-length", "11"}}));
  EXPECT_TRUE(o.keep_alive);
  EXPECT_FALSE(o.has_hint);
}

TEST(ResponseParser, ChunkedBodyWithExtensionsAndTrailersInEveryFeeding) {
  const char msg[] =
      "HTTP/1.1 200 OK\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "5;name=value\r\n"
      "hello\r\n"
      "6\r\n"
      " world\r\n"
      "0\r\n"
      "X-Checksum: abc\r\n"
      "\r\n";
  Outcome o = parse_every_way(msg);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.consumed, sizeof(msg) - 1);
  EXPECT_EQ(o.response.body, "hello world");
  EXPECT_EQ(o.response.find_header("transfer-encoding"), "chunked");
  // Trailers are not headers (Node keeps them apart; API.md has none).
  EXPECT_EQ(o.response.find_header("x-checksum"), "");
  EXPECT_EQ(o.response.headers.size(), 1u);
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, CloseDelimitedBodyCompletesOnlyOnFinish) {
  const char msg[] =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "until the end";
  Outcome open = parse_every_way(msg);
  EXPECT_EQ(open.status, Status::kNeedMore);
  EXPECT_EQ(open.consumed, sizeof(msg) - 1);

  Options eof;
  eof.finish = true;
  Outcome o = parse_every_way(msg, eof);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.response.body, "until the end");
  EXPECT_FALSE(o.keep_alive) << "a close-delimited body ends the connection";
}

TEST(ResponseParser, HeadResponseHasNoBodyDespiteContentLength) {
  const char msg[] =
      "HTTP/1.1 200 OK\r\n"
      "Content-Length: 1000\r\n"
      "\r\n";
  Options head;
  head.head = true;
  head.max_body = 10;  // the declared length is not a body: no size error
  Outcome o = parse_every_way(msg, head);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.consumed, sizeof(msg) - 1);
  EXPECT_EQ(o.response.body, "");
  EXPECT_EQ(o.response.find_header("content-length"), "1000");
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, NoContentHasNoBody) {
  const char msg[] = "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n";
  Outcome o = parse_every_way(msg);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.response.status, 204);
  EXPECT_EQ(o.consumed, sizeof(msg) - 1);
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, NotModifiedHasNoBody) {
  const char msg[] = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
  Outcome o = parse_every_way(msg);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.response.status, 304);
  EXPECT_EQ(o.response.body, "");
  EXPECT_EQ(o.consumed, sizeof(msg) - 1);
}

// RFC 9110 8.6: a 304 may carry the Content-Length the 200 would have had.
// No body follows, so maxResponseSize must not apply to it.
TEST(ResponseParser, NotModifiedWithLargeContentLengthIsNotTooLarge) {
  const char msg[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\n\r\n";
  Options small;
  small.max_body = 100;
  Outcome o = parse_whole(msg, small);
  EXPECT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.consumed, sizeof(msg) - 1);
}

TEST(ResponseParser, ContinueIsSkippedAndTheFinalResponseReturned) {
  const char msg[] =
      "HTTP/1.1 100 Continue\r\n"
      "X-Interim: yes\r\n"
      "\r\n"
      "HTTP/1.1 200 OK\r\n"
      "Content-Length: 2\r\n"
      "\r\n"
      "ok";
  Outcome o = parse_every_way(msg);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.response.status, 200);
  EXPECT_EQ(o.response.status_message, "OK");
  EXPECT_EQ(o.response.body, "ok");
  EXPECT_EQ(headers_of(o.response), (Headers{{"content-length", "2"}}));
  EXPECT_EQ(o.consumed, sizeof(msg) - 1);
}

TEST(ResponseParser, EarlyHintsAreSkipped) {
  const char msg[] =
      "HTTP/1.1 103 Early Hints\r\n"
      "Link: </style.css>; rel=preload\r\n"
      "\r\n"
      "HTTP/1.1 200 OK\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  Outcome o = parse_every_way(msg);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.response.status, 200);
  EXPECT_EQ(o.response.find_header("link"), "");
}

TEST(ResponseParser, SwitchingProtocolsIsAnError) {
  const char msg[] =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Connection: Upgrade\r\n"
      "Upgrade: websocket\r\n"
      "\r\n";
  Outcome o = parse_every_way(msg);
  EXPECT_EQ(o.status, Status::kError);
  EXPECT_EQ(o.error.code, ErrorCode::kUnsupported);
}

TEST(ResponseParser, Http10WithoutKeepAliveIsNotReusable) {
  Outcome o = parse_every_way("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.response.http_major, 1);
  EXPECT_EQ(o.response.http_minor, 0);
  EXPECT_FALSE(o.keep_alive);
  Outcome ka = parse_whole("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(ka.status, Status::kComplete);
  EXPECT_TRUE(ka.keep_alive);
}

TEST(ResponseParser, ConnectionCloseIsNotReusable) {
  Outcome o = parse_every_way("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_FALSE(o.keep_alive);
}

TEST(ResponseParser, KeepAliveTimeoutHintIsRead) {
  Outcome o = parse_every_way(
      "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=1000\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_TRUE(o.has_hint);
  EXPECT_EQ(o.hint_s, 5u);
  EXPECT_TRUE(o.keep_alive);

  Outcome later = parse_whole("HTTP/1.1 200 OK\r\nkeep-alive: max=9, Timeout=12\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(later.has_hint);
  EXPECT_EQ(later.hint_s, 12u);

  Outcome zero = parse_whole("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=0\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(zero.has_hint);
  EXPECT_EQ(zero.hint_s, 0u);

  Outcome none = parse_whole("HTTP/1.1 200 OK\r\nKeep-Alive: max=5\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(none.has_hint);
}

TEST(ResponseParser, HeaderNamesLowerCasedAndDuplicatesKeptInOrder) {
  const char msg[] =
      "HTTP/1.1 200 OK\r\n"
      "Set-Cookie: a=1\r\n"
      "X-Mixed-CASE: Value Kept\r\n"
      "SET-COOKIE: b=2\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  Outcome o = parse_every_way(msg);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(headers_of(o.response), (Headers{{"set-cookie", "a=1"},
                                             {"x-mixed-case", "Value Kept"},
                                             {"set-cookie", "b=2"},
                                             {"content-length", "0"}}));
  EXPECT_EQ(o.response.find_header("set-cookie"), "a=1");
}

TEST(ResponseParser, HeaderSectionOverTheLimitIsOverflow) {
  const std::string msg = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(200, 'v') +
                          "\r\nContent-Length: 0\r\n\r\n";
  Options small;
  small.max_header = 100;
  Outcome o = parse_every_way(msg, small);
  EXPECT_EQ(o.status, Status::kError);
  EXPECT_EQ(o.error.code, ErrorCode::kParse);
  EXPECT_EQ(o.error.reason, "HPE_HEADER_OVERFLOW");

  // The default 16 KiB: just under passes, well over fails.
  const std::string fits = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(16000, 'v') +
                           "\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(parse_whole(fits).status, Status::kComplete);
  const std::string big = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(17000, 'v') +
                          "\r\nContent-Length: 0\r\n\r\n";
  Outcome over = parse_whole(big);
  EXPECT_EQ(over.status, Status::kError);
  EXPECT_EQ(over.error.reason, "HPE_HEADER_OVERFLOW");
}

TEST(ResponseParser, DeclaredContentLengthOverMaxIsTooLargeBeforeTheBody) {
  Options o10;
  o10.max_body = 10;
  // Only the head: the error must not wait for the body.
  Outcome o = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", o10);
  EXPECT_EQ(o.status, Status::kError);
  EXPECT_EQ(o.error.code, ErrorCode::kResponseTooLarge);
  Outcome exact = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", o10);
  EXPECT_EQ(exact.status, Status::kComplete);
}

TEST(ResponseParser, ChunkedBodyOverMaxIsTooLarge) {
  const char msg[] =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";
  Options o10;
  o10.max_body = 10;
  Outcome o = parse_every_way(msg, o10);
  EXPECT_EQ(o.status, Status::kError);
  EXPECT_EQ(o.error.code, ErrorCode::kResponseTooLarge);
  Options o12;
  o12.max_body = 12;
  EXPECT_EQ(parse_whole(msg, o12).status, Status::kComplete);
}

TEST(ResponseParser, CloseDelimitedBodyOverMaxIsTooLarge) {
  Options o;
  o.max_body = 4;
  o.finish = true;
  Outcome r = parse_every_way("HTTP/1.1 200 OK\r\n\r\nfive!", o);
  EXPECT_EQ(r.status, Status::kError);
  EXPECT_EQ(r.error.code, ErrorCode::kResponseTooLarge);
}

TEST(ResponseParser, ContentLengthWithTransferEncodingIsAParseError) {
  const char msg[] =
      "HTTP/1.1 200 OK\r\n"
      "Content-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "5\r\nhello\r\n0\r\n\r\n";
  Outcome o = parse_every_way(msg);
  EXPECT_EQ(o.status, Status::kError);
  EXPECT_EQ(o.error.code, ErrorCode::kParse);
  EXPECT_EQ(o.error.reason.rfind("HPE_", 0), 0u) << o.error.reason;
  EXPECT_FALSE(o.error.message.empty());
}

TEST(ResponseParser, BadChunkSizeIsAParseError) {
  Outcome o = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(o.status, Status::kError);
  EXPECT_EQ(o.error.code, ErrorCode::kParse);
  EXPECT_EQ(o.error.reason, "HPE_INVALID_CHUNK_SIZE");
}

TEST(ResponseParser, GarbageStatusLineIsAParseError) {
  Outcome o = parse_whole("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(o.status, Status::kError);
  EXPECT_EQ(o.error.code, ErrorCode::kParse);
  EXPECT_EQ(o.error.reason.rfind("HPE_", 0), 0u) << o.error.reason;
}

TEST(ResponseParser, BytesAfterACompleteResponseAreNotConsumed) {
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const std::string second = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra";
  Outcome o = parse_every_way(first + second);
  ASSERT_EQ(o.status, Status::kComplete) << o.error.message;
  EXPECT_EQ(o.consumed, first.size());
  EXPECT_EQ(o.response.body, "ok");

  // And after completion, further input is refused without being parsed.
  ResponseParser p;
  Response r;
  p.begin(&r, false, 16384, kNoLimit);
  size_t consumed = 0;
  ASSERT_EQ(p.feed(first.data(), first.size(), &consumed), Status::kComplete);
  EXPECT_EQ(p.feed(second.data(), second.size(), &consumed), Status::kComplete);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(r.body, "ok");

  // Chunked: the byte after the terminating CRLF is the first extra one.
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
  Outcome c = parse_every_way(chunked + "X");
  ASSERT_EQ(c.status, Status::kComplete);
  EXPECT_EQ(c.consumed, chunked.size());
}

TEST(ResponseParser, TruncatedBodyFailsWithSocketClosedOnFinish) {
  Options eof;
  eof.finish = true;
  Outcome cl = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", eof);
  EXPECT_EQ(cl.status, Status::kError);
  EXPECT_EQ(cl.error.code, ErrorCode::kSocketClosed);
  Outcome chunked = parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", eof);
  EXPECT_EQ(chunked.status, Status::kError);
  EXPECT_EQ(chunked.error.code, ErrorCode::kSocketClosed);
  Outcome head = parse_every_way("HTTP/1.1 200 OK\r\nContent-Le", eof);
  EXPECT_EQ(head.status, Status::kError);
  EXPECT_EQ(head.error.code, ErrorCode::kSocketClosed);
}

TEST(ResponseParser, StartedOnlyOnceAByteArrived) {
  ResponseParser p;
  Response r;
  p.begin(&r, false, 16384, kNoLimit);
  EXPECT_FALSE(p.started());
  EXPECT_EQ(p.finish(), Status::kError);
  EXPECT_EQ(p.error().code, ErrorCode::kSocketClosed);

  p.begin(&r, false, 16384, kNoLimit);
  EXPECT_FALSE(p.started());
  size_t consumed = 0;
  EXPECT_EQ(p.feed("H", 1, &consumed), Status::kNeedMore);
  EXPECT_TRUE(p.started());
}

TEST(ResponseParser, OneParserServesSuccessiveResponsesAfterBegin) {
  ResponseParser p;
  Response r1, r2, r3;
  size_t consumed = 0;
  const std::string a = "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=3\r\nContent-Length: 1\r\n\r\nA";
  p.begin(&r1, false, 16384, kNoLimit);
  ASSERT_EQ(p.feed(a.data(), a.size(), &consumed), Status::kComplete);
  EXPECT_TRUE(p.has_keep_alive_hint());

  // Second response: nothing from the first leaks into it.
  const std::string b = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nB\r\n0\r\n\r\n";
  p.begin(&r2, false, 16384, kNoLimit);
  EXPECT_FALSE(p.started());
  EXPECT_FALSE(p.has_keep_alive_hint());
  for (size_t i = 0; i < b.size(); i++) {
    Status s = p.feed(b.data() + i, 1, &consumed);
    ASSERT_EQ(s, i + 1 == b.size() ? Status::kComplete : Status::kNeedMore) << "byte " << i;
  }
  EXPECT_EQ(r2.status, 404);
  EXPECT_EQ(r2.body, "B");
  EXPECT_EQ(headers_of(r2), (Headers{{"transfer-encoding", "chunked"}}));
  EXPECT_EQ(r1.body, "A");

  // After a parse error, begin() gives a clean parser too.
  const std::string bad = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
  p.begin(&r3, false, 16384, kNoLimit);
  ASSERT_EQ(p.feed(bad.data(), bad.size(), &consumed), Status::kError);
  p.begin(&r3, false, 16384, kNoLimit);
  EXPECT_TRUE(p.error().ok());
  ASSERT_EQ(p.feed(a.data(), a.size(), &consumed), Status::kComplete);
  EXPECT_EQ(r3.body, "A");
}

TEST(ResponseParser, BeginClearsAReusedResponse) {
  ResponseParser p;
  Response r;
  r.status = 500;
  r.body = "stale";
  r.status_message = "stale";
  r.header_bytes = "stale";
  r.headers.push_back(HeaderSpan{0, 5, 0, 5});
  p.begin(&r, false, 16384, kNoLimit);
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.headers.empty());
  EXPECT_TRUE(r.status_message.empty());
}

}  // namespace
}  // namespace cpc
