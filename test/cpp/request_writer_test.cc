// Request serialisation: the exact bytes on the wire, the headers the pool
// adds unless given, what the writer learns (traits), and what it refuses.
#include "core/request_writer.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace cpc {
namespace {

struct Built {
  bool ok = false;
  std::string head;
  RequestTraits traits;
  Error err;
};

Built build(std::string_view method, std::string_view target,
            std::vector<HeaderPair> headers = {}, size_t body_length = 0,
            bool keep_alive = true) {
  RequestSpec spec;
  spec.method = method;
  spec.target = target;
  spec.host_header = "example.com:8080";
  spec.headers = headers.data();
  spec.header_count = headers.size();
  spec.body_length = body_length;
  spec.keep_alive = keep_alive;
  Built b;
  b.ok = write_request_head(spec, &b.head, &b.traits, &b.err);
  return b;
}

TEST(RequestWriter, SerialisesGetWithDefaultHostAndConnection) {
  Built b = build("GET", "/path?q=1");
  ASSERT_TRUE(b.ok) << b.err.message;
  EXPECT_EQ(b.head,
            "GET /path?q=1 HTTP/1.1\r\n"
            "Host: example.com:8080\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(RequestWriter, SerialisesPostWithCallerHeadersFirstThenDefaults) {
  Built b = build("POST", "/submit", {{"Content-Type", "application/json"}, {"X-Id", "7"}}, 13);
  ASSERT_TRUE(b.ok) << b.err.message;
  EXPECT_EQ(b.head,
            "POST /submit HTTP/1.1\r\n"
            "Content-Type: application/json\r\n"
            "X-Id: 7\r\n"
            "Host: example.com:8080\r\n"
            "Connection: keep-alive\r\n"
            "Content-Length: 13\r\n"
            "\r\n");
}

TEST(RequestWriter, ClearsPreviousContentOfTheOutput) {
  RequestSpec spec;
  spec.method = "GET";
  spec.target = "/";
  spec.host_header = "h";
  std::string out = "stale bytes";
  RequestTraits traits;
  Error err;
  ASSERT_TRUE(write_request_head(spec, &out, &traits, &err));
  EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\n", 0), 0u) << out;
}

TEST(RequestWriter, CallerHostWinsAndIsSentOnce) {
  Built b = build("GET", "/", {{"host", "other.example"}});
  ASSERT_TRUE(b.ok);
  EXPECT_EQ(b.head,
            "GET / HTTP/1.1\r\n"
            "host: other.example\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(RequestWriter, KeepAliveFalseSendsConnectionClose) {
  Built b = build("GET", "/", {}, 0, /*keep_alive=*/false);
  ASSERT_TRUE(b.ok);
  EXPECT_NE(b.head.find("\r\nConnection: close\r\n"), std::string::npos) << b.head;
  EXPECT_EQ(b.head.find("keep-alive"), std::string::npos) << b.head;
}

TEST(RequestWriter, CallerConnectionHeaderWinsAndCloseMarksTheSocket) {
  Built b = build("GET", "/", {{"Connection", "Close"}});
  ASSERT_TRUE(b.ok);
  EXPECT_TRUE(b.traits.close_after);
  EXPECT_EQ(b.head,
            "GET / HTTP/1.1\r\n"
            "Connection: Close\r\n"
            "Host: example.com:8080\r\n"
            "\r\n");
  Built keep = build("GET", "/", {{"connection", "keep-alive"}});
  ASSERT_TRUE(keep.ok);
  EXPECT_FALSE(keep.traits.close_after);
  Built listed = build("GET", "/", {{"Connection", "TE, close"}});
  ASSERT_TRUE(listed.ok);
  EXPECT_TRUE(listed.traits.close_after);
}

TEST(RequestWriter, PostWithEmptyBodyGetsContentLengthZero) {
  for (const char* m : {"POST", "PUT", "PATCH"}) {
    SCOPED_TRACE(m);
    Built b = build(m, "/");
    ASSERT_TRUE(b.ok);
    EXPECT_NE(b.head.find("\r\nContent-Length: 0\r\n"), std::string::npos) << b.head;
  }
}

TEST(RequestWriter, GetWithoutBodyHasNoContentLength) {
  for (const char* m : {"GET", "HEAD", "DELETE", "OPTIONS"}) {
    SCOPED_TRACE(m);
    Built b = build(m, "/");
    ASSERT_TRUE(b.ok);
    EXPECT_EQ(b.head.find("Content-Length"), std::string::npos) << b.head;
  }
}

TEST(RequestWriter, BodyOnAnyMethodGetsItsLength) {
  Built b = build("DELETE", "/x", {}, 42);
  ASSERT_TRUE(b.ok);
  EXPECT_NE(b.head.find("\r\nContent-Length: 42\r\n"), std::string::npos) << b.head;
}

TEST(RequestWriter, MatchingCallerContentLengthIsKeptAndNotDuplicated) {
  Built b = build("POST", "/", {{"content-length", "5"}}, 5);
  ASSERT_TRUE(b.ok) << b.err.message;
  EXPECT_EQ(b.head,
            "POST / HTTP/1.1\r\n"
            "content-length: 5\r\n"
            "Host: example.com:8080\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
  Built twice = build("POST", "/", {{"Content-Length", "5"}, {"content-length", "5"}}, 5);
  ASSERT_TRUE(twice.ok) << twice.err.message;
  std::string lower = twice.head;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const size_t first = lower.find("content-length:");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(lower.find("content-length:", first + 1), std::string::npos) << twice.head;
}

TEST(RequestWriter, MismatchingContentLengthIsRejected) {
  for (const char* value : {"4", "6", "abc", "-5", ""}) {
    SCOPED_TRACE(value);
    Built b = build("POST", "/", {{"Content-Length", value}}, 5);
    EXPECT_FALSE(b.ok);
    EXPECT_EQ(b.err.code, ErrorCode::kInvalidArg);
  }
}

TEST(RequestWriter, TraitsFollowTheMethod) {
  struct Case {
    const char* method;
    bool idempotent;
    bool head;
  };
  // API.md: GET, HEAD, OPTIONS, PUT, DELETE are retried in the idle-socket race.
  const Case cases[] = {{"GET", true, false},     {"HEAD", true, true},
                        {"OPTIONS", true, false}, {"PUT", true, false},
                        {"DELETE", true, false},  {"TRACE", true, false},
                        {"POST", false, false},   {"PATCH", false, false},
                        {"PURGE", false, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method);
    Built b = build(c.method, "/");
    ASSERT_TRUE(b.ok);
    EXPECT_EQ(b.traits.idempotent, c.idempotent);
    EXPECT_EQ(b.traits.head, c.head);
    EXPECT_FALSE(b.traits.close_after);
  }
}

TEST(RequestWriter, MethodCaseIsKeptAsGiven) {
  Built b = build("Get", "/");
  ASSERT_TRUE(b.ok);
  EXPECT_EQ(b.head.rfind("Get / HTTP/1.1\r\n", 0), 0u) << b.head;
}

TEST(RequestWriter, RejectsMethodThatIsNotAToken) {
  for (std::string_view m : {std::string_view(""), std::string_view("GE T"),
                             std::string_view("GET\r\n"), std::string_view("G(ET"),
                             std::string_view("GET\0", 4)}) {
    SCOPED_TRACE(std::string(m));
    Built b = build(m, "/");
    EXPECT_FALSE(b.ok);
    EXPECT_EQ(b.err.code, ErrorCode::kInvalidArg);
  }
}

TEST(RequestWriter, RejectsConnectAsUnsupported) {
  for (const char* m : {"CONNECT", "connect"}) {
    Built b = build(m, "/");
    EXPECT_FALSE(b.ok);
    EXPECT_EQ(b.err.code, ErrorCode::kUnsupported);
  }
}

TEST(RequestWriter, RejectsHeaderNameWithSpaceColonOrControl) {
  for (std::string_view name : {std::string_view("X Bad"), std::string_view("X:Bad"),
                                std::string_view("X-Bad:"), std::string_view(""),
                                std::string_view("X\r\nInjected"), std::string_view("X\0", 2)}) {
    SCOPED_TRACE(std::string(name));
    Built b = build("GET", "/", {{name, "v"}});
    EXPECT_FALSE(b.ok);
    EXPECT_EQ(b.err.code, ErrorCode::kInvalidArg);
  }
}

TEST(RequestWriter, RejectsHeaderValueWithCrLfOrNul) {
  for (std::string_view value :
       {std::string_view("a\rb"), std::string_view("a\nb"), std::string_view("a\r\nX-Injected: 1"),
        std::string_view("a\0b", 3), std::string_view("\x7f")}) {
    SCOPED_TRACE(std::string(value));
    Built b = build("GET", "/", {{"X-Value", value}});
    EXPECT_FALSE(b.ok);
    EXPECT_EQ(b.err.code, ErrorCode::kInvalidArg);
    EXPECT_NE(b.err.message.find("X-Value"), std::string::npos) << b.err.message;
  }
}

TEST(RequestWriter, AcceptsTabAndObsTextInHeaderValues) {
  Built b = build("GET", "/", {{"X-Value", "a\tb \xe9"}});
  ASSERT_TRUE(b.ok) << b.err.message;
  EXPECT_NE(b.head.find("X-Value: a\tb \xe9\r\n"), std::string::npos);
  EXPECT_TRUE(is_valid_header_value(""));
}

TEST(RequestWriter, RejectsTransferEncoding) {
  Built b = build("POST", "/", {{"Transfer-Encoding", "chunked"}}, 3);
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.err.code, ErrorCode::kInvalidArg);
}

TEST(RequestWriter, RejectsUpgradeAsUnsupported) {
  Built up = build("GET", "/", {{"Upgrade", "websocket"}});
  EXPECT_FALSE(up.ok);
  EXPECT_EQ(up.err.code, ErrorCode::kUnsupported);
  Built conn = build("GET", "/", {{"Connection", "Upgrade"}});
  EXPECT_FALSE(conn.ok);
  EXPECT_EQ(conn.err.code, ErrorCode::kUnsupported);
}

TEST(RequestWriter, RejectsExpect) {
  Built b = build("POST", "/", {{"Expect", "100-continue"}}, 1);
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.err.code, ErrorCode::kInvalidArg);
}

TEST(RequestWriter, RejectsBadTargets) {
  for (std::string_view t : {std::string_view(""), std::string_view("path"),
                             std::string_view("/a b"), std::string_view("/a\r\nX: y"),
                             std::string_view("/a\tb"), std::string_view("/\x7f"),
                             std::string_view("http://example.com/")}) {
    SCOPED_TRACE(std::string(t));
    Built b = build("GET", t);
    EXPECT_FALSE(b.ok);
    EXPECT_EQ(b.err.code, ErrorCode::kInvalidArg);
  }
  Built star = build("OPTIONS", "*");
  EXPECT_TRUE(star.ok);
}

TEST(RequestWriter, TokenAndValueHelpers) {
  EXPECT_TRUE(is_token("X-Custom_Header.1~!#$%&'*+^`|"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token("a\"b"));
  EXPECT_FALSE(is_token("a,b"));
  EXPECT_TRUE(is_valid_header_value("text/html; charset=utf-8"));
  EXPECT_FALSE(is_valid_header_value("a\x01"));
}


// RequestHeadCache must answer exactly as write_request_head() would, for
// whatever sequence of requests: every key field changes the head.
struct CacheCase {
  std::string method = "GET";
  std::string target = "/a";
  std::string host = "example.com:8080";
  std::vector<std::pair<std::string, std::string>> headers;
  size_t body_length = 0;
  bool keep_alive = true;
};

Built through(RequestHeadCache& cache, const CacheCase& c, bool cached) {
  std::vector<HeaderPair> pairs;
  for (const auto& [n, v] : c.headers) pairs.push_back(HeaderPair{n, v});
  RequestSpec spec;
  spec.method = c.method;
  spec.target = c.target;
  spec.host_header = c.host;
  spec.headers = pairs.data();
  spec.header_count = pairs.size();
  spec.body_length = c.body_length;
  spec.keep_alive = c.keep_alive;
  Built b;
  b.ok = cached ? cache.write(spec, &b.head, &b.traits, &b.err)
                : write_request_head(spec, &b.head, &b.traits, &b.err);
  return b;
}

TEST(RequestHeadCache, EveryFieldOfTheRequestIsPartOfTheKey) {
  std::vector<CacheCase> cases(1);
  auto vary = [&](auto change) {
    CacheCase c = cases.front();
    change(c);
    cases.push_back(c);
  };
  vary([](CacheCase& c) { c.method = "HEAD"; });
  vary([](CacheCase& c) { c.method = "POST"; });
  vary([](CacheCase& c) { c.target = "/b"; });
  vary([](CacheCase& c) { c.host = "example.com:8081"; });
  vary([](CacheCase& c) { c.headers = {{"x-a", "bc"}}; });
  vary([](CacheCase& c) { c.headers = {{"x-ab", "c"}}; });  // same bytes, other cut
  vary([](CacheCase& c) { c.headers = {{"x-a", "bd"}}; });
  vary([](CacheCase& c) { c.headers = {{"x-a", "bc"}, {"x-a", "bc"}}; });
  vary([](CacheCase& c) { c.headers = {{"connection", "close"}}; });
  vary([](CacheCase& c) { c.body_length = 3; });
  vary([](CacheCase& c) { c.keep_alive = false; });
  RequestHeadCache cache;
  // Each case after each other case, and each twice in a row.
  for (size_t i = 0; i < cases.size(); i++) {
    for (size_t j = 0; j < cases.size(); j++) {
      for (const CacheCase* c : {&cases[i], &cases[j], &cases[j]}) {
        Built want = through(cache, *c, false);
        Built got = through(cache, *c, true);
        ASSERT_TRUE(got.ok) << got.err.message;
        EXPECT_EQ(got.head, want.head) << "case " << i << " then " << j;
        EXPECT_EQ(got.traits.idempotent, want.traits.idempotent);
        EXPECT_EQ(got.traits.head, want.traits.head);
        EXPECT_EQ(got.traits.close_after, want.traits.close_after);
      }
    }
  }
}

TEST(RequestHeadCache, NeverServesARequestThatFailsValidation) {
  RequestHeadCache cache;
  CacheCase good;
  ASSERT_TRUE(through(cache, good, true).ok);
  CacheCase bad = good;
  bad.headers = {{"x-bad", "a\r\nInjected: 1"}};
  Built b = through(cache, bad, true);
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.err.code, ErrorCode::kInvalidArg);
  EXPECT_FALSE(through(cache, bad, true).ok) << "a failure is never remembered";
  CacheCase bad_method = good;
  bad_method.method = "G T";
  EXPECT_FALSE(through(cache, bad_method, true).ok);
  Built again = through(cache, good, true);
  ASSERT_TRUE(again.ok);
  EXPECT_EQ(again.head, through(cache, good, false).head);
}

}  // namespace
}  // namespace cpc
