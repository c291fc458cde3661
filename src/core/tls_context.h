// What every TLS connection of one pool shares: the SSL_CTX (trust, client
// certificate, protocol floor, ALPN) and the per-origin session cache that lets
// a new socket to a known origin resume instead of doing a full handshake.
// One TlsContext per pool, created when the pool is; TlsSession (tls_session.h)
// is the per-connection half.
//
// Trust: the process-wide default store (Node's tls.rootCertificates plus
// NODE_EXTRA_CA_CERTS, handed over once by the binding) is parsed once, lazily,
// on the first https origin, and shared by every pool on every thread; costs
// ~18 ms and ~1 MB, which is why it is neither per pool nor eager.
//
// Threading: a TlsContext belongs to one loop thread, like its pool. Only the
// default store (built under std::call_once, read-only afterwards; X509_STORE
// locks its own lookups) is shared between threads.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/errors.h"

namespace cpc {

// Sets the PEMs of the default trust (each string may hold several
// certificates). The binding calls it once per process, before the first
// https origin; calls after the default store was built have no effect, since
// every pool already shares that store. PEMs that do not parse are skipped, as
// Node skips bad NODE_EXTRA_CA_CERTS entries. Never called (the C++ tests):
// the default store is empty and every verification against it fails.
void set_default_ca_pems(std::vector<std::string> pems);

struct TlsOptions {
  // Non-empty: these certificates replace the default trust (Node's `tls.ca`).
  // Every entry must hold at least one PEM certificate.
  std::vector<std::string> ca_pems;
  // Client certificate for mutual TLS: both or neither. cert_pem may carry the
  // chain after the leaf; key_pem must be unencrypted.
  std::string cert_pem, key_pem;
  // false: any certificate and any name are accepted (SSL_VERIFY_NONE), and the
  // default store is not even built.
  bool reject_unauthorized = true;
  // Overrides the connect host for SNI and for the name the certificate must
  // carry (Node's `servername`). Empty: the host of the URL.
  std::string servername;
  int min_version = TLS1_2_VERSION;  // an OpenSSL *_VERSION constant; 0 = library floor
  bool session_cache = true;         // false: never offer a session, never store one
  size_t session_cache_size = 64;    // origins remembered (one session each); 0 = none
};

class TlsContext {
 public:
  // Null with *err = kTls (reason = OpenSSL's text) when a PEM does not parse,
  // the key does not match the certificate, or min_version is unknown.
  static std::unique_ptr<TlsContext> create(const TlsOptions& options, Error* err);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The session to offer on a new socket to `origin_key`, or null. Borrowed:
  // valid until the next handshake of this context completes (pass it straight
  // to SSL_set_session, which takes its own reference). Refreshes its LRU slot;
  // drops a session that has expired or cannot be resumed.
  SSL_SESSION* session_for(const std::string& origin_key);
  // Forgets the origin's session, e.g. after a failed handshake (the server
  // may have changed its certificate or ticket keys), as https.Agent does.
  void evict_session(const std::string& origin_key);
  size_t cached_sessions() const { return lru_.size(); }

  // Completed handshakes (full + resumed) and resumed ones: getMetrics()'s
  // tlsHandshakes and tlsResumed.
  uint64_t handshakes() const { return handshakes_; }
  uint64_t resumed_handshakes() const { return resumed_; }

  // --- for TlsSession ---------------------------------------------------------
  SSL_CTX* ssl_ctx() const { return ctx_; }
  const std::string& servername() const { return servername_; }
  bool verifies() const { return verifies_; }
  void note_handshake(bool resumed);
  // TlsSession registers so that ~TlsContext can assert none outlives it: a
  // session's SSL calls back into this context when a ticket arrives.
  void attach_session() { ++live_sessions_; }
  void detach_session();
  // The SSL's app data (SSL_set_app_data) must point at the std::string that
  // holds the connection's origin key, for the new-session callback.
  static void set_origin_key(SSL* ssl, const std::string* origin_key);

 private:
  struct CachedSession {
    std::string key;
    SSL_SESSION* session;  // Owned: one reference, freed on eviction or in ~TlsContext.
  };

  TlsContext() = default;
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  // Takes the caller's reference to `session` (always: it is freed when the
  // cache is off).
  void store_session(const std::string& origin_key, SSL_SESSION* session);
  void drop(std::list<CachedSession>::iterator it);

  SSL_CTX* ctx_ = nullptr;  // Owned; SSLs made from it hold their own references.
  std::string servername_;
  bool verifies_ = true;
  size_t cache_capacity_ = 0;  // 0 when the session cache is off
  // Most recently used first. index_'s keys view the `key` of the list node,
  // which never moves (std::list), so a lookup by std::string allocates nothing.
  std::list<CachedSession> lru_;
  std::unordered_map<std::string_view, std::list<CachedSession>::iterator> index_;
  uint64_t handshakes_ = 0;
  uint64_t resumed_ = 0;
  size_t live_sessions_ = 0;
};

// OpenSSL's reason for the oldest error queued on this thread ("key values
// mismatch", "sslv3 alert handshake failure"), or `fallback`; clears the queue
// either way. Shared by tls_context.cc and tls_session.cc.
std::string take_tls_error_reason(const char* fallback);

}  // namespace cpc
