// The other end of a TLS test, made with OpenSSL alone: certificates minted
// at test time (a CA, leaves, a client certificate) and an OpenSSL server
// that talks through memory BIOs, so a handshake runs without sockets.
//
// Usable by any test that needs certificates — e.g. a libuv TLS test server can
// take its leaf and key PEMs from TestPki.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace cpc_test {

// A key pair and its certificate, as objects and as PEM.
struct Identity {
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509> cert;
  std::string key_pem;
  std::string cert_pem;
};

struct CertSpec {
  std::string common_name;
  std::string subject_alt_names;  // "DNS:localhost,IP:127.0.0.1"; empty: none
  bool ca = false;
  long not_before_days = -1;      // relative to now
  long not_after_days = 30;
};

// EC P-256 key, SHA-256 signature. issuer == nullptr: self-signed.
Identity make_identity(const CertSpec& spec, const Identity* issuer);

// Every certificate the TLS tests use, minted once per test binary (~10 ms).
struct TestPki {
  Identity ca;            // the trusted test CA
  Identity leaf;          // by ca: DNS:localhost, IP:127.0.0.1, IP:::1
  Identity wrong_host;    // by ca: DNS:other.example only
  Identity expired;       // by ca: localhost, expired yesterday
  Identity client;        // by ca: a client certificate (CN=client)
  Identity self_signed;   // localhost, its own issuer
  Identity other_ca;      // a CA nobody trusts
  Identity unknown_leaf;  // by other_ca: localhost
  static const TestPki& get();
};

struct ServerOptions {
  const Identity* identity = nullptr;      // required
  int max_version = 0;                     // 0: TLS 1.3
  bool tickets = true;                     // false: TLS 1.2 resumes by session ID
  const Identity* require_client_cert_from = nullptr;  // CA a client cert must chain to
};

// One server SSL_CTX: its ticket keys and session-ID cache span connections,
// which is what resumption needs.
class TestTlsServer {
 public:
  explicit TestTlsServer(const ServerOptions& options);
  ~TestTlsServer();
  TestTlsServer(const TestTlsServer&) = delete;
  TestTlsServer& operator=(const TestTlsServer&) = delete;
  SSL_CTX* ctx() const { return ctx_; }

 private:
  SSL_CTX* ctx_ = nullptr;  // Owned.
};

// One accepted connection of a TestTlsServer, bytes in and bytes out.
class TestTlsServerConn {
 public:
  explicit TestTlsServerConn(const TestTlsServer& server);
  ~TestTlsServerConn();
  TestTlsServerConn(const TestTlsServerConn&) = delete;
  TestTlsServerConn& operator=(const TestTlsServerConn&) = delete;

  void feed(const std::string& ciphertext);
  // Advances the handshake, then reads application data into plain().
  void step();
  std::string take_output();
  void send(const std::string& plaintext);  // after the handshake
  void close_notify();

  SSL* ssl() const { return ssl_; }
  bool handshake_done() const { return done_; }
  bool failed() const { return failed_; }
  bool got_close_notify() const { return closed_; }
  const std::string& failure() const { return failure_; }
  std::string& plain() { return plain_; }
  // The ALPN list the client offered (wire format), captured by the server.
  const std::string& offered_alpn() const { return offered_alpn_; }
  std::string servername() const;  // SNI received, "" when none
  std::string selected_alpn() const;

 private:
  friend class TestTlsServer;  // installs on_alpn on its SSL_CTX
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                     const unsigned char* in, unsigned int inlen, void* arg);
  SSL* ssl_ = nullptr;  // Owned; owns in_ and out_.
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  bool done_ = false;
  bool failed_ = false;
  bool closed_ = false;
  std::string failure_;
  std::string plain_;
  std::string offered_alpn_;
};

}  // namespace cpc_test
