// The TLS engine (TlsContext + TlsSession) against an OpenSSL server over
// memory BIOs: verification, SNI, client certificates, resumption per origin,
// data both ways, close_notify and idle memory. No sockets and no loop: the
// engine only turns bytes into bytes, so that is all these tests move.
#include "core/tls_context.h"
#include "core/tls_session.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <memory>
#include <string>

#include "support/tls_peer.h"

namespace cpc {
namespace {

using cpc_test::Identity;
using cpc_test::ServerOptions;
using cpc_test::TestPki;
using cpc_test::TestTlsServer;
using cpc_test::TestTlsServerConn;
using Status = TlsSession::Status;

const TestPki& pki() { return TestPki::get(); }

// The default trust of this whole test binary is the test CA (plus a bad PEM
// that must be skipped), set before any test runs: the process-wide store is
// built once, by whichever test first needs it, so setting it inside one test
// would depend on test order.
class DefaultTrustEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    set_default_ca_pems({"not a PEM (skipped, as Node skips bad extra CAs)", pki().ca.cert_pem});
  }
};
::testing::Environment* const kDefaultTrust =
    ::testing::AddGlobalTestEnvironment(new DefaultTrustEnvironment());

TlsOptions trusting_test_ca() {
  TlsOptions options;
  options.ca_pems = {pki().ca.cert_pem};
  return options;
}

std::unique_ptr<TlsContext> make_context(const TlsOptions& options) {
  Error err;
  std::unique_ptr<TlsContext> ctx = TlsContext::create(options, &err);
  EXPECT_NE(ctx, nullptr) << err.message;
  return ctx;
}

ServerOptions serving(const Identity& identity) {
  ServerOptions options;
  options.identity = &identity;
  return options;
}

std::string pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    s[i] = static_cast<char>(seed >> 24);
  }
  return s;
}

bool contains(std::string haystack, std::string needle) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  return lower(std::move(haystack)).find(lower(std::move(needle))) != std::string::npos;
}

// A client session wired to one server connection. pump() moves bytes both
// ways, in a bounded number of rounds, until neither side has more to say.
struct Link {
  // The origin key defaults to one per host, as the pool keys origins.
  Link(TlsContext* ctx, const TestTlsServer& srv, const std::string& host,
       const std::string& origin_key = "")
      : client(ctx, host, origin_key.empty() ? "https://" + host + ":8443" : origin_key),
        server(srv) {}

  // `chunk` splits every delivery to the client into pieces of that size.
  Status connect(size_t chunk = SIZE_MAX) {
    Status started = client.start(&to_server);
    if (started != Status::kOk) return started;
    return pump(chunk);
  }

  Status pump(size_t chunk = SIZE_MAX) {
    for (int round = 0; round < 100; ++round) {
      server.feed(to_server);
      to_server.clear();
      server.step();
      std::string to_client = server.take_output();
      if (to_client.empty()) return last;
      for (size_t at = 0; at < to_client.size(); at += chunk) {
        size_t n = std::min(chunk, to_client.size() - at);
        Status s = client.on_input(to_client.data() + at, n, &plain, &to_server);
        if (s == Status::kHandshakeDone) ++handshake_done_reports;
        if (s != Status::kOk) last = s;
        if (s == Status::kError || s == Status::kClosed) {
          server.feed(to_server);  // the alert or close_notify, if any
          to_server.clear();
          server.step();
          return s;
        }
      }
    }
    ADD_FAILURE() << "the exchange did not settle in 100 rounds";
    return Status::kError;
  }

  TlsSession client;
  TestTlsServerConn server;
  std::string to_server;
  std::string plain;
  Status last = Status::kOk;
  int handshake_done_reports = 0;
};

// --- handshake and verification ------------------------------------------------

TEST(TlsEngine, HandshakesWithServerSignedByTrustedCa) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kHandshakeDone) << link.client.error().message;
  EXPECT_EQ(link.handshake_done_reports, 1);
  EXPECT_TRUE(link.client.handshake_done());
  EXPECT_FALSE(link.client.resumed());
  EXPECT_TRUE(link.server.handshake_done());
  EXPECT_EQ(link.server.offered_alpn(), std::string("\x08http/1.1"));
  EXPECT_EQ(link.server.selected_alpn(), "http/1.1");
  EXPECT_EQ(SSL_version(link.server.ssl()), TLS1_3_VERSION);
  EXPECT_EQ(ctx->handshakes(), 1u);
  EXPECT_EQ(ctx->resumed_handshakes(), 0u);
}

TEST(TlsEngine, HandshakesWhenCiphertextArrivesOneByteAtATime) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(/*chunk=*/1), Status::kHandshakeDone) << link.client.error().message;
  EXPECT_EQ(link.handshake_done_reports, 1);
}

TEST(TlsEngine, RejectsServerSignedByUnknownCaWithIssuerReason) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().unknown_leaf));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kError);
  EXPECT_EQ(link.client.error().code, ErrorCode::kTls);
  EXPECT_EQ(link.client.error().reason, "unable to get local issuer certificate");
  EXPECT_TRUE(contains(link.client.error().message, "issuer")) << link.client.error().message;
  EXPECT_FALSE(link.client.handshake_done());
  EXPECT_TRUE(link.server.failed()) << "the server should have received our alert";
  EXPECT_EQ(ctx->handshakes(), 0u);
}

TEST(TlsEngine, RejectsSelfSignedServerCertificate) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().self_signed));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kError);
  EXPECT_TRUE(contains(link.client.error().reason, "self-signed") ||
              contains(link.client.error().reason, "self signed"))
      << link.client.error().reason;
}

TEST(TlsEngine, TrustsSelfSignedCertificateGivenAsCa) {
  TlsOptions options;
  options.ca_pems = {pki().self_signed.cert_pem};
  auto ctx = make_context(options);
  TestTlsServer server(serving(pki().self_signed));
  Link link(ctx.get(), server, "localhost");
  EXPECT_EQ(link.connect(), Status::kHandshakeDone) << link.client.error().message;
}

TEST(TlsEngine, RejectsHostnameMismatch) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().wrong_host));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kError);
  EXPECT_TRUE(contains(link.client.error().reason, "hostname mismatch"))
      << link.client.error().reason;
}

TEST(TlsEngine, VerifiesIpLiteralsAgainstIpSubjectAltNames) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  // One origin key per host (Link's default): a session resumed for another
  // origin would skip verification altogether.
  for (const char* host : {"127.0.0.1", "::1", "[::1]"}) {
    Link link(ctx.get(), server, host);
    EXPECT_EQ(link.connect(), Status::kHandshakeDone)
        << host << ": " << link.client.error().message;
  }
  Link wrong(ctx.get(), server, "127.0.0.2");
  ASSERT_EQ(wrong.connect(), Status::kError);
  EXPECT_TRUE(contains(wrong.client.error().reason, "IP address mismatch"))
      << wrong.client.error().reason;
}

TEST(TlsEngine, RejectsExpiredCertificate) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().expired));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kError);
  EXPECT_EQ(link.client.error().reason, "certificate has expired");
}

TEST(TlsEngine, AcceptsAnyCertificateWhenRejectUnauthorizedIsFalse) {
  TlsOptions options;
  options.reject_unauthorized = false;  // and no ca: nothing is trusted at all
  auto ctx = make_context(options);
  for (const Identity* id : {&pki().self_signed, &pki().expired, &pki().wrong_host,
                             &pki().unknown_leaf}) {
    TestTlsServer server(serving(*id));
    Link link(ctx.get(), server, "localhost");
    EXPECT_EQ(link.connect(), Status::kHandshakeDone) << link.client.error().message;
  }
}

TEST(TlsEngine, RefusesServerBelowMinVersion) {
  TlsOptions options = trusting_test_ca();
  options.min_version = TLS1_3_VERSION;
  auto ctx = make_context(options);
  ServerOptions old_server = serving(pki().leaf);
  old_server.max_version = TLS1_2_VERSION;
  TestTlsServer server(old_server);
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kError);
  EXPECT_FALSE(link.client.error().reason.empty());
  EXPECT_EQ(link.client.error().code, ErrorCode::kTls);
}

// --- client certificates -------------------------------------------------------

TEST(TlsEngine, PresentsClientCertificateForMutualTls) {
  TlsOptions options = trusting_test_ca();
  options.cert_pem = pki().client.cert_pem;
  options.key_pem = pki().client.key_pem;
  auto ctx = make_context(options);
  ServerOptions strict = serving(pki().leaf);
  strict.require_client_cert_from = &pki().ca;
  TestTlsServer server(strict);
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kHandshakeDone) << link.client.error().message;
  ASSERT_TRUE(link.server.handshake_done()) << link.server.failure();
  X509* peer = SSL_get1_peer_certificate(link.server.ssl());
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(X509_cmp(peer, pki().client.cert.get()), 0);
  X509_free(peer);
}

// TLS 1.3: the client finishes its handshake before the server has judged the
// client certificate, so the refusal arrives as the first record afterwards.
TEST(TlsEngine, FailsAfterHandshakeWhenTls13ServerWantsClientCertificate) {
  auto ctx = make_context(trusting_test_ca());
  ServerOptions strict = serving(pki().leaf);
  strict.require_client_cert_from = &pki().ca;
  TestTlsServer server(strict);
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kError);
  EXPECT_EQ(link.handshake_done_reports, 1);
  EXPECT_TRUE(contains(link.client.error().reason, "certificate required"))
      << link.client.error().reason;
}

TEST(TlsEngine, FailsHandshakeWhenTls12ServerWantsClientCertificate) {
  auto ctx = make_context(trusting_test_ca());
  ServerOptions strict = serving(pki().leaf);
  strict.require_client_cert_from = &pki().ca;
  strict.max_version = TLS1_2_VERSION;
  TestTlsServer server(strict);
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kError);
  EXPECT_EQ(link.handshake_done_reports, 0);
  EXPECT_FALSE(link.client.error().reason.empty());
}

TEST(TlsEngine, RejectsClientKeyThatDoesNotMatchCertificate) {
  TlsOptions options = trusting_test_ca();
  options.cert_pem = pki().client.cert_pem;
  options.key_pem = pki().leaf.key_pem;
  Error err;
  EXPECT_EQ(TlsContext::create(options, &err), nullptr);
  EXPECT_EQ(err.code, ErrorCode::kTls);
  EXPECT_TRUE(contains(err.reason, "mismatch")) << err.reason;
}

TEST(TlsEngine, RejectsMalformedPemsWithReason) {
  struct Case {
    const char* name;
    TlsOptions options;
  };
  TlsOptions bad_ca;
  bad_ca.ca_pems = {pki().ca.cert_pem, "not a certificate"};
  TlsOptions truncated_ca;
  truncated_ca.ca_pems = {pki().ca.cert_pem.substr(0, 120) + "\n-----END CERTIFICATE-----\n"};
  TlsOptions bad_cert;
  bad_cert.cert_pem = "garbage";
  bad_cert.key_pem = pki().client.key_pem;
  TlsOptions bad_key;
  bad_key.cert_pem = pki().client.cert_pem;
  bad_key.key_pem = "garbage";
  TlsOptions cert_only;
  cert_only.cert_pem = pki().client.cert_pem;
  for (const Case& c : {Case{"ca", bad_ca}, Case{"truncated ca", truncated_ca},
                        Case{"cert", bad_cert}, Case{"key", bad_key},
                        Case{"cert without key", cert_only}}) {
    Error err;
    EXPECT_EQ(TlsContext::create(c.options, &err), nullptr) << c.name;
    EXPECT_EQ(err.code, ErrorCode::kTls) << c.name;
    EXPECT_FALSE(err.reason.empty()) << c.name;
  }
}

// --- SNI -------------------------------------------------------------------------

TEST(TlsEngine, SendsSniForHostNamesOnly) {
  TlsOptions options;
  options.reject_unauthorized = false;
  auto ctx = make_context(options);
  TestTlsServer server(serving(pki().leaf));
  Link named(ctx.get(), server, "localhost");
  ASSERT_EQ(named.connect(), Status::kHandshakeDone);
  EXPECT_EQ(named.server.servername(), "localhost");
  for (const char* ip : {"127.0.0.1", "[::1]"}) {
    Link literal(ctx.get(), server, ip);
    ASSERT_EQ(literal.connect(), Status::kHandshakeDone) << ip;
    EXPECT_EQ(literal.server.servername(), "") << ip;
  }
}

TEST(TlsEngine, ServernameOverridesSniAndVerifiedName) {
  TlsOptions options = trusting_test_ca();
  options.servername = "other.example";
  auto ctx = make_context(options);
  TestTlsServer right(serving(pki().wrong_host));  // DNS:other.example only
  Link ok(ctx.get(), right, "127.0.0.1");
  ASSERT_EQ(ok.connect(), Status::kHandshakeDone) << ok.client.error().message;
  EXPECT_EQ(ok.server.servername(), "other.example");
  TestTlsServer wrong(serving(pki().leaf));  // localhost and 127.0.0.1, not other.example
  Link bad(ctx.get(), wrong, "127.0.0.1");
  ASSERT_EQ(bad.connect(), Status::kError);
  EXPECT_TRUE(contains(bad.client.error().reason, "hostname mismatch"));
}

// --- resumption ------------------------------------------------------------------

// Full handshake, then a second socket to the same origin; returns whether it
// resumed, checked on both sides.
bool second_connection_resumes(TlsContext* ctx, const TestTlsServer& server,
                               const std::string& first_key, const std::string& second_key) {
  Link first(ctx, server, "localhost", first_key);
  EXPECT_EQ(first.connect(), Status::kHandshakeDone) << first.client.error().message;
  EXPECT_FALSE(first.client.resumed());
  Link second(ctx, server, "localhost", second_key);
  EXPECT_EQ(second.connect(), Status::kHandshakeDone) << second.client.error().message;
  EXPECT_EQ(second.client.resumed(), SSL_session_reused(second.server.ssl()) == 1);
  return second.client.resumed();
}

TEST(TlsEngine, ResumesSecondConnectionToSameOriginWithTls13Ticket) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  EXPECT_TRUE(second_connection_resumes(ctx.get(), server, "https://localhost:1",
                                        "https://localhost:1"));
  EXPECT_EQ(ctx->handshakes(), 2u);
  EXPECT_EQ(ctx->resumed_handshakes(), 1u);
  EXPECT_EQ(ctx->cached_sessions(), 1u);
}

// The pool closes idle sockets without close_notify (idle timeout, server
// FIN); OpenSSL would then mark the cached session not resumable.
TEST(TlsEngine, ResumesAfterEarlierSocketClosedWithoutCloseNotify) {
  for (int max_version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    auto ctx = make_context(trusting_test_ca());
    ServerOptions options = serving(pki().leaf);
    options.max_version = max_version;
    TestTlsServer server(options);
    {
      Link first(ctx.get(), server, "localhost");
      ASSERT_EQ(first.connect(), Status::kHandshakeDone);
    }  // freed without a shutdown
    {
      Link second(ctx.get(), server, "localhost");
      ASSERT_EQ(second.connect(), Status::kHandshakeDone);
      EXPECT_TRUE(second.client.resumed()) << "TLS version " << std::hex << max_version;
    }
    Link third(ctx.get(), server, "localhost");  // resumed sessions stay resumable too
    ASSERT_EQ(third.connect(), Status::kHandshakeDone);
    EXPECT_TRUE(third.client.resumed()) << "TLS version " << std::hex << max_version;
  }
}

TEST(TlsEngine, ResumesWithTls12SessionId) {
  auto ctx = make_context(trusting_test_ca());
  ServerOptions options = serving(pki().leaf);
  options.max_version = TLS1_2_VERSION;
  options.tickets = false;
  TestTlsServer server(options);
  EXPECT_TRUE(second_connection_resumes(ctx.get(), server, "k", "k"));
  EXPECT_EQ(ctx->resumed_handshakes(), 1u);
}

TEST(TlsEngine, ResumesWithTls12Ticket) {
  auto ctx = make_context(trusting_test_ca());
  ServerOptions options = serving(pki().leaf);
  options.max_version = TLS1_2_VERSION;
  TestTlsServer server(options);
  EXPECT_TRUE(second_connection_resumes(ctx.get(), server, "k", "k"));
}

TEST(TlsEngine, KeepsSessionsPerOriginKey) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  EXPECT_FALSE(second_connection_resumes(ctx.get(), server, "https://localhost:1",
                                         "https://localhost:2"));
  EXPECT_EQ(ctx->cached_sessions(), 2u);
  EXPECT_NE(ctx->session_for("https://localhost:1"), ctx->session_for("https://localhost:2"));
}

TEST(TlsEngine, NeverResumesWhenSessionCacheIsOff) {
  TlsOptions options = trusting_test_ca();
  options.session_cache = false;
  auto ctx = make_context(options);
  TestTlsServer server(serving(pki().leaf));
  EXPECT_FALSE(second_connection_resumes(ctx.get(), server, "k", "k"));
  EXPECT_EQ(ctx->cached_sessions(), 0u);
  EXPECT_EQ(ctx->resumed_handshakes(), 0u);
}

TEST(TlsEngine, BoundsSessionCacheToSessionCacheSizeDroppingLeastRecentlyUsed) {
  TlsOptions options = trusting_test_ca();
  options.session_cache_size = 3;
  auto ctx = make_context(options);
  TestTlsServer server(serving(pki().leaf));
  auto handshake = [&](const std::string& key) {
    Link link(ctx.get(), server, "localhost", key);
    EXPECT_EQ(link.connect(), Status::kHandshakeDone) << key;
  };
  for (const char* key : {"o1", "o2", "o3"}) handshake(key);
  EXPECT_EQ(ctx->cached_sessions(), 3u);
  EXPECT_NE(ctx->session_for("o1"), nullptr);  // o1 is now the most recently used
  for (const char* key : {"o4", "o5", "o6"}) handshake(key);
  EXPECT_EQ(ctx->cached_sessions(), 3u);
  EXPECT_EQ(ctx->session_for("o1"), nullptr);
  EXPECT_EQ(ctx->session_for("o2"), nullptr);
  EXPECT_EQ(ctx->session_for("o3"), nullptr);
  EXPECT_NE(ctx->session_for("o6"), nullptr);
  handshake("o7");  // o4 is the least recently used now
  EXPECT_EQ(ctx->session_for("o4"), nullptr);
  EXPECT_NE(ctx->session_for("o5"), nullptr);
  EXPECT_EQ(ctx->cached_sessions(), 3u);
}

TEST(TlsEngine, ForgetsOriginSessionAfterFailedHandshake) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer good(serving(pki().leaf));
  Link first(ctx.get(), good, "localhost", "k");
  ASSERT_EQ(first.connect(), Status::kHandshakeDone);
  ASSERT_EQ(ctx->cached_sessions(), 1u);
  // The origin now presents a certificate we refuse (and cannot resume: the
  // ticket keys changed with the server).
  TestTlsServer replaced(serving(pki().unknown_leaf));
  Link second(ctx.get(), replaced, "localhost", "k");
  ASSERT_EQ(second.connect(), Status::kError);
  EXPECT_EQ(ctx->cached_sessions(), 0u);
}

// --- data, close, memory -----------------------------------------------------------

TEST(TlsEngine, RoundTripsHundredKilobytesBothWays) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kHandshakeDone);

  const std::string request = pattern(100 * 1024, 1);
  ASSERT_TRUE(link.client.encrypt(request.data(), request.size(), &link.to_server));
  EXPECT_GT(link.to_server.size(), request.size());
  link.server.feed(link.to_server);
  link.to_server.clear();
  link.server.step();
  EXPECT_EQ(link.server.plain(), request);

  const std::string response = pattern(100 * 1024, 2);
  link.server.send(response);
  std::string wire = link.server.take_output();
  // Socket-sized pieces that split records anywhere.
  for (size_t at = 0; at < wire.size(); at += 1000) {
    size_t n = std::min<size_t>(1000, wire.size() - at);
    ASSERT_EQ(link.client.on_input(wire.data() + at, n, &link.plain, &link.to_server), Status::kOk);
  }
  EXPECT_EQ(link.plain, response);
}

TEST(TlsEngine, ReportsCloseNotifyAsClosedAfterDeliveringData) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kHandshakeDone);
  link.server.send("last words");
  link.server.close_notify();
  std::string wire = link.server.take_output();
  EXPECT_EQ(link.client.on_input(wire.data(), wire.size(), &link.plain, &link.to_server),
            Status::kClosed);
  EXPECT_EQ(link.plain, "last words");
  EXPECT_EQ(link.client.on_input("x", 1, &link.plain, &link.to_server), Status::kClosed);
}

TEST(TlsEngine, ShutdownBytesCarryOurCloseNotify) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kHandshakeDone);
  std::string bye = link.client.shutdown_bytes();
  ASSERT_FALSE(bye.empty());
  link.server.feed(bye);
  link.server.step();
  EXPECT_TRUE(link.server.got_close_notify());
}

TEST(TlsEngine, EncryptBeforeHandshakeFails) {
  auto ctx = make_context(trusting_test_ca());
  TlsSession session(ctx.get(), "localhost", "k");
  std::string out;
  ASSERT_EQ(session.start(&out), Status::kOk);
  EXPECT_FALSE(session.encrypt("GET", 3, &out));
  EXPECT_EQ(session.error().code, ErrorCode::kTls);
  EXPECT_TRUE(session.shutdown_bytes().empty());
}

TEST(TlsEngine, TrimFreesIdleBuffersAndTheSessionStillWorks) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kHandshakeDone);
  const std::string body = pattern(64 * 1024, 3);
  link.server.send(body);
  std::string wire = link.server.take_output();
  ASSERT_EQ(link.client.on_input(wire.data(), wire.size(), &link.plain, &link.to_server),
            Status::kOk);
  EXPECT_GT(link.client.buffered_capacity(), 64u * 1024u);  // the read BIO's high-water mark

  link.client.trim();
  EXPECT_EQ(link.client.buffered_capacity(), 0u);

  link.plain.clear();
  ASSERT_TRUE(link.client.encrypt("ping", 4, &link.to_server));
  link.server.feed(link.to_server);
  link.to_server.clear();
  link.server.step();
  EXPECT_EQ(link.server.plain(), "ping");
  link.server.send("pong");
  wire = link.server.take_output();
  ASSERT_EQ(link.client.on_input(wire.data(), wire.size(), &link.plain, &link.to_server),
            Status::kOk);
  EXPECT_EQ(link.plain, "pong");
}

TEST(TlsEngine, ReusesCallerBufferCapacityInSteadyState) {
  auto ctx = make_context(trusting_test_ca());
  TestTlsServer server(serving(pki().leaf));
  Link link(ctx.get(), server, "localhost");
  ASSERT_EQ(link.connect(), Status::kHandshakeDone);
  const std::string request = pattern(2000, 4);
  const std::string response = pattern(8000, 5);
  std::string cipher;
  std::string plain;
  const char* cipher_data = nullptr;
  const char* plain_data = nullptr;
  for (int i = 0; i < 4; ++i) {
    cipher.clear();
    plain.clear();
    ASSERT_TRUE(link.client.encrypt(request.data(), request.size(), &cipher));
    link.server.feed(cipher);
    cipher.clear();
    link.server.step();
    link.server.send(response);
    std::string wire = link.server.take_output();
    ASSERT_EQ(link.client.on_input(wire.data(), wire.size(), &plain, &cipher), Status::kOk);
    ASSERT_EQ(plain, response);
    if (i == 0) {
      cipher_data = cipher.data();
      plain_data = plain.data();
    } else {
      EXPECT_EQ(cipher.data(), cipher_data) << "request " << i << " reallocated cipher_out";
      EXPECT_EQ(plain.data(), plain_data) << "request " << i << " reallocated plain_out";
    }
  }
}

// --- the default trust ---------------------------------------------------------------

// DefaultTrustEnvironment (top of file) gave the default trust its PEMs.
TEST(TlsEngine, DefaultTrustComesFromSetDefaultCaPemsAndIsShared) {
  TlsOptions options;  // no ca: the default trust
  auto first = make_context(options);
  auto second = make_context(options);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(SSL_CTX_get_cert_store(first->ssl_ctx()), SSL_CTX_get_cert_store(second->ssl_ctx()));
  TestTlsServer server(serving(pki().leaf));
  Link trusted(first.get(), server, "localhost");
  EXPECT_EQ(trusted.connect(), Status::kHandshakeDone) << trusted.client.error().message;
  TestTlsServer stranger(serving(pki().unknown_leaf));
  Link refused(second.get(), stranger, "localhost");
  EXPECT_EQ(refused.connect(), Status::kError);
  // A private `ca` replaces the default trust instead of adding to it.
  TlsOptions own;
  own.ca_pems = {pki().other_ca.cert_pem};
  auto replaced = make_context(own);
  EXPECT_NE(SSL_CTX_get_cert_store(replaced->ssl_ctx()), SSL_CTX_get_cert_store(first->ssl_ctx()));
  Link untrusted(replaced.get(), server, "localhost");
  EXPECT_EQ(untrusted.connect(), Status::kError);
}

}  // namespace
}  // namespace cpc
