// One connection's TLS state, bytes in and bytes out: the socket layer feeds
// ciphertext to on_input() and sends whatever lands in cipher_out; the HTTP
// layer gets plaintext from on_input() and hands request bytes to encrypt().
// No sockets, no loop, no timers here — TLS is a layer under the connection
// (STYLE.md §4), and the connect timeout covering the handshake is the
// connection's.
//
// OpenSSL runs on a pair of memory BIOs (rbio: socket -> SSL, wbio: SSL ->
// socket). Every call drains wbio into the caller's cipher_out, so nothing
// waits in wbio between calls.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "core/tls_context.h"

namespace cpc {

class TlsSession {
 public:
  enum class Status : uint8_t {
    kOk,             // consumed; nothing to report (maybe plaintext, maybe bytes to send)
    kHandshakeDone,  // the handshake just completed; returned once per session
    kError,          // failed; error() says why. Final.
    kClosed,         // the peer sent close_notify. Final for reading.
  };

  // `host` is the URL's host (brackets around an IPv6 literal are allowed);
  // the context's servername, when set, replaces it for SNI and verification.
  // `origin_key` names the session-cache slot: it must differ whenever the
  // certificate a server may present differs (scheme://host:port is enough,
  // since TLS options are per pool). A constructor failure is reported by
  // start().
  TlsSession(TlsContext* ctx, const std::string& host, const std::string& origin_key);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Appends the ClientHello to *cipher_out. kOk, or kError.
  Status start(std::string* cipher_out);

  // Ciphertext read from the socket. Appends decrypted application bytes to
  // *plain_out and bytes to send (handshake flights, alerts, key updates) to
  // *cipher_out; neither is cleared, so callers reuse their buffers' capacity.
  // plain_out may grow even when kClosed or kError is returned: hand it to the
  // parser first. cipher_out may hold an alert after kError; sending it is a
  // courtesy. When input both completes the handshake and fails or closes the
  // session, the failure or close wins and handshake_done() reports the rest.
  Status on_input(const char* data, size_t len, std::string* plain_out,
                  std::string* cipher_out);

  // Appends the records for `data` to *cipher_out. Only after kHandshakeDone;
  // false with error() set otherwise or when OpenSSL fails.
  bool encrypt(const char* data, size_t len, std::string* cipher_out);

  // Our close_notify (empty before the handshake or after a failure). Sending
  // it is optional: servers treat a bare FIN the same after a full response.
  std::string shutdown_bytes();

  // Call when the connection goes idle: frees the memory BIOs' buffers (they
  // keep their high-water mark, e.g. 64 KB after one large read) and any
  // record buffer OpenSSL still holds. Costs two small allocations on the next
  // use, so it is for idle sockets, not between chunks of one response.
  void trim();

  bool handshake_done() const { return handshake_done_; }
  bool resumed() const { return resumed_; }
  const Error& error() const { return error_; }
  // Bytes reserved by the two memory BIOs (capacity, not content): what trim()
  // frees. For tests and memory accounting.
  size_t buffered_capacity() const;

 private:
  enum class Phase : uint8_t { kNew, kHandshaking, kOpen, kClosed, kFailed };

  Status step_handshake();
  Status read_plain(std::string* plain_out);
  Status fail(const char* what, const char* fallback);
  void fail_handshake();
  void drain_output(std::string* cipher_out);

  TlsContext* const ctx_;  // Borrowed; the pool's context outlives its sessions.
  // Owned; freed in ~TlsSession. Owns rbio_/wbio_ (SSL_set_bio), and its app
  // data points at origin_key_ for TlsContext's new-session callback.
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // Borrowed from ssl_: ciphertext from the socket.
  BIO* wbio_ = nullptr;  // Borrowed from ssl_: ciphertext for the socket.
  const std::string origin_key_;
  Phase phase_ = Phase::kNew;
  bool handshake_done_ = false;
  bool resumed_ = false;
  Error error_;
};

}  // namespace cpc
