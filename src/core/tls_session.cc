#include "core/tls_session.h"

#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <uv.h>

namespace cpc {
namespace {

// Largest plaintext of one TLS record: one SSL_read never returns more, so
// plain_out grows by at most this much per record.
constexpr size_t kRecordMax = 16384;

bool is_ip_literal(const std::string& name) {
  unsigned char addr[16];
  return uv_inet_pton(AF_INET, name.c_str(), addr) == 0 ||
         uv_inet_pton(AF_INET6, name.c_str(), addr) == 0;
}

size_t mem_capacity(BIO* bio) {
  BUF_MEM* mem = nullptr;
  if (!bio || BIO_get_mem_ptr(bio, &mem) != 1 || !mem) return 0;
  return mem->max;
}

// Replaces an empty memory BIO whose buffer kept a high-water mark by a fresh
// one that owns no buffer yet. Returns the BIO now in use.
BIO* fresh_if_empty(BIO* bio, SSL* ssl, void (*set0)(SSL*, BIO*)) {
  if (BIO_ctrl_pending(bio) != 0 || mem_capacity(bio) == 0) return bio;
  BIO* fresh = BIO_new(BIO_s_mem());
  if (!fresh) return bio;
  set0(ssl, fresh);  // frees the old BIO
  return fresh;
}

}  // namespace

TlsSession::TlsSession(TlsContext* ctx, const std::string& host, const std::string& origin_key)
    : ctx_(ctx), origin_key_(origin_key) {
  ctx_->attach_session();
  ERR_clear_error();
  ssl_ = SSL_new(ctx_->ssl_ctx());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !rbio_ || !wbio_) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    rbio_ = wbio_ = nullptr;
    fail("cannot create a TLS session", "out of memory");
    return;
  }
  SSL_set_bio(ssl_, rbio_, wbio_);
  TlsContext::set_origin_key(ssl_, &origin_key_);
  SSL_set_connect_state(ssl_);

  std::string name = ctx_->servername().empty() ? host : ctx_->servername();
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (is_ip_literal(name)) {
    // RFC 6066 forbids SNI for addresses; the certificate must list the
    // address itself (an IP SAN), as Node's checkServerIdentity requires.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str()) != 1) {
      fail("invalid IP address for TLS verification", "invalid address");
      return;
    }
  } else if (!name.empty()) {
    if (SSL_set_tlsext_host_name(ssl_, name.c_str()) != 1 ||
        SSL_set1_host(ssl_, name.c_str()) != 1) {
      fail("invalid TLS server name", "invalid server name");
      return;
    }
  }
  // SSL_set_session takes its own reference; failing it only costs a full
  // handshake.
  if (SSL_SESSION* cached = ctx_->session_for(origin_key_)) {
    // Offer a copy: at the end of a resumed TLS 1.3 handshake OpenSSL marks
    // the session it used not resumable, and a server that sends no new
    // ticket on resumption (Node's) would leave the cache with nothing for
    // the next socket. https.Agent reuses its session the same way.
    if (SSL_SESSION* copy = SSL_SESSION_dup(cached)) {
      (void)SSL_set_session(ssl_, copy);
      SSL_SESSION_free(copy);  // SSL_set_session took its own reference
    }
  }
  ERR_clear_error();
}

TlsSession::~TlsSession() {
  // SSL_free marks the SSL's session not resumable unless a close_notify was
  // sent; that session is the very object in the context's cache (TLS 1.2, and
  // TLS 1.3 after a ticket), so without this every socket the pool closes
  // quietly (idle timeout, server FIN) would spoil its origin's session. A
  // session that saw a TLS error was evicted already and stays spoiled.
  if (ssl_ && handshake_done_ && phase_ != Phase::kFailed) {
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  SSL_free(ssl_);  // frees rbio_ and wbio_ too
  ctx_->detach_session();
}

TlsSession::Status TlsSession::start(std::string* cipher_out) {
  if (phase_ == Phase::kFailed) return Status::kError;
  if (phase_ != Phase::kNew) return fail("TLS session started twice", "already started");
  phase_ = Phase::kHandshaking;
  Status status = step_handshake();
  drain_output(cipher_out);
  return status;
}

TlsSession::Status TlsSession::on_input(const char* data, size_t len, std::string* plain_out,
                                        std::string* cipher_out) {
  switch (phase_) {
    case Phase::kFailed: return Status::kError;
    case Phase::kClosed: return Status::kClosed;  // bytes after close_notify mean nothing
    case Phase::kNew: return fail("TLS input before start()", "not started");
    case Phase::kHandshaking:
    case Phase::kOpen: break;
  }
  while (len > 0) {
    // A memory BIO grows to take everything; it fails only without memory.
    size_t put = 0;
    if (BIO_write_ex(rbio_, data, len, &put) != 1 || put == 0) {
      return fail("cannot buffer TLS input", "out of memory");
    }
    data += put;
    len -= put;
  }

  Status status = Status::kOk;
  if (phase_ == Phase::kHandshaking) {
    status = step_handshake();
    if (status != Status::kHandshakeDone) {
      drain_output(cipher_out);
      return status;
    }
  }
  // Application data, and post-handshake messages that carry none: TLS 1.3
  // NewSessionTicket (which stores the session), KeyUpdate, close_notify.
  Status read = read_plain(plain_out);
  drain_output(cipher_out);
  return read == Status::kOk ? status : read;
}

// The caller drains wbio afterwards, whatever the outcome.
TlsSession::Status TlsSession::step_handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    phase_ = Phase::kOpen;
    handshake_done_ = true;
    resumed_ = SSL_session_reused(ssl_) == 1;
    ctx_->note_handshake(resumed_);
    return Status::kHandshakeDone;
  }
  if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) return Status::kOk;
  fail_handshake();
  return Status::kError;
}

TlsSession::Status TlsSession::read_plain(std::string* plain_out) {
  for (;;) {
    // Nothing buffered in OpenSSL and nothing new from the socket: done,
    // without touching plain_out.
    if (SSL_has_pending(ssl_) == 0 && BIO_ctrl_pending(rbio_) == 0) return Status::kOk;
    ERR_clear_error();
    // Decrypt straight into the caller's buffer (reusing its capacity): no
    // staging buffer per session, which would cost 16 KB per idle socket.
    size_t old = plain_out->size();
    plain_out->resize(old + kRecordMax);
    size_t got = 0;
    int r = SSL_read_ex(ssl_, &(*plain_out)[old], kRecordMax, &got);
    plain_out->resize(old + got);
    if (r == 1) continue;
    switch (SSL_get_error(ssl_, r)) {
      case SSL_ERROR_WANT_READ:
        return Status::kOk;
      case SSL_ERROR_ZERO_RETURN:
        phase_ = Phase::kClosed;
        return Status::kClosed;
      default:
        return fail("TLS connection failed", "decryption failed");
    }
  }
}

bool TlsSession::encrypt(const char* data, size_t len, std::string* cipher_out) {
  if (phase_ != Phase::kOpen && phase_ != Phase::kClosed) {
    if (phase_ != Phase::kFailed) fail("TLS write before the handshake completed", "not connected");
    return false;
  }
  while (len > 0) {
    ERR_clear_error();
    size_t written = 0;
    // Without SSL_MODE_ENABLE_PARTIAL_WRITE this writes everything; the loop
    // is for safety only.
    if (SSL_write_ex(ssl_, data, len, &written) != 1) {
      fail("TLS write failed", "write failed");
      drain_output(cipher_out);
      return false;
    }
    data += written;
    len -= written;
  }
  drain_output(cipher_out);
  return true;
}

std::string TlsSession::shutdown_bytes() {
  std::string out;
  if (!handshake_done_ || phase_ == Phase::kFailed) return out;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_);  // 0: sent ours, the peer's is not awaited; 1: both sent
  ERR_clear_error();
  drain_output(&out);
  return out;
}

void TlsSession::trim() {
  if (!ssl_) return;
  rbio_ = fresh_if_empty(rbio_, ssl_, &SSL_set0_rbio);
  wbio_ = fresh_if_empty(wbio_, ssl_, &SSL_set0_wbio);
  // Record buffers are normally gone already (SSL_MODE_RELEASE_BUFFERS);
  // this fails harmlessly while a partial record is buffered.
  (void)SSL_free_buffers(ssl_);
  ERR_clear_error();
}

size_t TlsSession::buffered_capacity() const {
  return mem_capacity(rbio_) + mem_capacity(wbio_);
}

void TlsSession::drain_output(std::string* cipher_out) {
  if (!wbio_) return;
  size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return;
  size_t old = cipher_out->size();
  cipher_out->resize(old + pending);
  size_t got = 0;
  if (BIO_read_ex(wbio_, &(*cipher_out)[old], pending, &got) != 1) got = 0;
  cipher_out->resize(old + got);
}

void TlsSession::fail_handshake() {
  // A rejected certificate shows up on the error queue only as "certificate
  // verify failed"; the verify result says which check failed.
  long verify = ssl_ ? SSL_get_verify_result(ssl_) : X509_V_OK;
  if (ctx_->verifies() && verify != X509_V_OK) {
    ERR_clear_error();
    std::string reason = X509_verify_cert_error_string(verify);
    error_ = make_error(ErrorCode::kTls, "TLS certificate verification failed: " + reason, reason);
    phase_ = Phase::kFailed;
    ctx_->evict_session(origin_key_);
    return;
  }
  fail("TLS handshake failed", "handshake failure");
}

TlsSession::Status TlsSession::fail(const char* what, const char* fallback) {
  std::string reason = take_tls_error_reason(fallback);
  error_ = make_error(ErrorCode::kTls, std::string(what) + ": " + reason, reason);
  phase_ = Phase::kFailed;
  // As https.Agent does on any TLS error: the server may have changed its
  // certificate or ticket keys, so do not offer the old session again.
  ctx_->evict_session(origin_key_);
  return Status::kError;
}

}  // namespace cpc
