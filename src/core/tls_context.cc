#include "core/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cassert>
#include <ctime>
#include <iterator>
#include <mutex>
#include <utility>

namespace cpc {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// ALPN wire format: length-prefixed protocol names. We speak HTTP/1.1 only.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// Never prompt on the terminal for a passphrase (OpenSSL's default callback
// would): an encrypted key simply fails to load.
int no_passphrase(char*, int, int, void*) { return -1; }

BioPtr pem_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Appends every certificate of `pem` to *out. False when it holds none or a
// malformed one; the reason is then left on the error queue.
bool read_certs(const std::string& pem, std::vector<X509Ptr>* out) {
  BioPtr bio = pem_bio(pem);
  if (!bio) return false;
  size_t before = out->size();
  for (;;) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr);
    if (cert) {
      out->emplace_back(cert);
      continue;
    }
    // The end of the input shows up as "no start line"; anything else, or no
    // certificate at all, is a bad PEM.
    unsigned long e = ERR_peek_last_error();
    bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    if (at_end && out->size() > before) {
      ERR_clear_error();
      return true;
    }
    return false;
  }
}

// Adds the certificates of `pems` to `store`; a PEM that does not parse fails
// the whole store unless `skip_bad`.
bool add_certs(X509_STORE* store, const std::vector<std::string>& pems, bool skip_bad) {
  std::vector<X509Ptr> certs;
  for (const std::string& pem : pems) {
    size_t before = certs.size();
    if (!read_certs(pem, &certs)) {
      if (!skip_bad) return false;
      certs.resize(before);
      ERR_clear_error();
    }
  }
  for (const X509Ptr& cert : certs) {
    // Duplicates are accepted by OpenSSL 3 (they are common in CA bundles).
    if (X509_STORE_add_cert(store, cert.get()) != 1) return false;
  }
  return true;
}

// The process-wide default trust. Heap-allocated and never destroyed: worker
// threads may still hold SSL_CTXs that reference the store while static
// destructors run at exit.
struct DefaultTrust {
  std::mutex mu;
  std::vector<std::string> pems;  // guarded by mu
  std::once_flag built;
  X509_STORE* store = nullptr;    // Owned; written once under `built`, never freed.
};

DefaultTrust& default_trust() {
  static DefaultTrust* trust = new DefaultTrust();
  return *trust;
}

// Builds the default store on first use. Null only when OpenSSL is out of
// memory; bad PEMs are skipped, not fatal.
X509_STORE* default_store() {
  DefaultTrust& trust = default_trust();
  std::call_once(trust.built, [&trust] {
    std::vector<std::string> pems;
    {
      std::lock_guard<std::mutex> lock(trust.mu);
      pems = std::move(trust.pems);
      trust.pems.clear();
    }
    StorePtr store(X509_STORE_new());
    if (store && add_certs(store.get(), pems, /*skip_bad=*/true)) trust.store = store.release();
    ERR_clear_error();
  });
  return trust.store;
}

Error tls_error(const std::string& what, const char* fallback) {
  std::string reason = take_tls_error_reason(fallback);
  return make_error(ErrorCode::kTls, what + ": " + reason, reason);
}

// Loads the client certificate (leaf, then chain) and its key.
bool use_client_certificate(SSL_CTX* ctx, const TlsOptions& options, Error* err) {
  if (options.cert_pem.empty() != options.key_pem.empty()) {
    *err = make_error(ErrorCode::kTls, "tls.cert and tls.key must be given together",
                      "missing certificate or key");
    return false;
  }
  std::vector<X509Ptr> chain;
  if (!read_certs(options.cert_pem, &chain)) {
    *err = tls_error("invalid tls.cert", "no certificate");
    return false;
  }
  BioPtr bio = pem_bio(options.key_pem);
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
  if (!key) {
    *err = tls_error("invalid tls.key", "no private key");
    return false;
  }
  if (SSL_CTX_use_certificate(ctx, chain[0].get()) != 1) {
    *err = tls_error("invalid tls.cert", "certificate rejected");
    return false;
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      *err = tls_error("invalid tls.cert chain", "chain certificate rejected");
      return false;
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    *err = tls_error("tls.key does not match tls.cert", "key values mismatch");
    return false;
  }
  return true;
}

}  // namespace

std::string take_tls_error_reason(const char* fallback) {
  std::string reason;
  // The oldest entry is the cause; later ones are callers reporting it.
  while (unsigned long e = ERR_get_error()) {
    const char* text = ERR_reason_error_string(e);
    if (text && reason.empty()) reason = text;
  }
  if (reason.empty()) reason = fallback;
  return reason;
}

void set_default_ca_pems(std::vector<std::string> pems) {
  DefaultTrust& trust = default_trust();
  std::lock_guard<std::mutex> lock(trust.mu);
  trust.pems = std::move(pems);
}

std::unique_ptr<TlsContext> TlsContext::create(const TlsOptions& options, Error* err) {
  ERR_clear_error();
  std::unique_ptr<TlsContext> self(new TlsContext());
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    *err = tls_error("cannot create a TLS context", "out of memory");
    return nullptr;
  }
  self->ctx_ = ctx;
  SSL_CTX_set_app_data(ctx, self.get());
  self->servername_ = options.servername;
  self->verifies_ = options.reject_unauthorized;

  if (options.min_version != 0 &&
      (options.min_version < TLS1_VERSION || options.min_version > TLS1_3_VERSION ||
       SSL_CTX_set_min_proto_version(ctx, options.min_version) != 1)) {
    *err = make_error(ErrorCode::kTls, "unsupported tls.minVersion", "unsupported protocol");
    return nullptr;
  }
  // Frees each SSL's 16 KB+ record buffers whenever they are empty: an idle
  // socket keeps only its SSL object and session.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, options.reject_unauthorized ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                     nullptr);

  if (!options.ca_pems.empty()) {
    StorePtr store(X509_STORE_new());
    if (!store || !add_certs(store.get(), options.ca_pems, /*skip_bad=*/false)) {
      *err = tls_error("invalid tls.ca", "no certificate");
      return nullptr;
    }
    SSL_CTX_set_cert_store(ctx, store.release());  // the SSL_CTX takes our reference
  } else if (options.reject_unauthorized) {
    X509_STORE* shared = default_store();
    if (!shared) {
      *err = make_error(ErrorCode::kTls, "cannot build the default CA store", "out of memory");
      return nullptr;
    }
    SSL_CTX_set1_cert_store(ctx, shared);  // up-refs: the store is shared, never copied
  }

  if (!options.cert_pem.empty() || !options.key_pem.empty()) {
    if (!use_client_certificate(ctx, options, err)) return nullptr;
  }

  // SSL_CTX_set_alpn_protos returns 0 on success.
  if (SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof(kAlpnHttp11)) != 0) {
    *err = tls_error("cannot offer ALPN", "out of memory");
    return nullptr;
  }

  // Client sessions go only to our own bounded LRU (OpenSSL's internal cache
  // would keep up to 20k of them). TLS 1.3 tickets arrive after the handshake,
  // inside SSL_read, and reach on_new_session then.
  if (options.session_cache && options.session_cache_size > 0) {
    self->cache_capacity_ = options.session_cache_size;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &TlsContext::on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  ERR_clear_error();
  return self;
}

TlsContext::~TlsContext() {
  // A live TlsSession's SSL would call on_new_session with a dangling context.
  assert(live_sessions_ == 0 && "TlsContext destroyed before its TlsSessions");
  for (CachedSession& entry : lru_) SSL_SESSION_free(entry.session);
  if (ctx_) {
    SSL_CTX_set_app_data(ctx_, nullptr);
    SSL_CTX_free(ctx_);
  }
}

void TlsContext::detach_session() {
  assert(live_sessions_ > 0);
  --live_sessions_;
}

void TlsContext::set_origin_key(SSL* ssl, const std::string* origin_key) {
  SSL_set_app_data(ssl, const_cast<std::string*>(origin_key));
}

void TlsContext::note_handshake(bool resumed) {
  ++handshakes_;
  if (resumed) ++resumed_;
}

SSL_SESSION* TlsContext::session_for(const std::string& origin_key) {
  auto found = index_.find(origin_key);
  if (found == index_.end()) return nullptr;
  auto it = found->second;
  SSL_SESSION* session = it->session;
  // A client never learns that the server dropped a session; it only stops
  // offering one the server told it has expired.
  time_t expires = static_cast<time_t>(SSL_SESSION_get_time(session)) +
                   static_cast<time_t>(SSL_SESSION_get_timeout(session));
  if (!SSL_SESSION_is_resumable(session) || expires <= time(nullptr)) {
    drop(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it);  // moves the node; index_ stays valid
  return session;
}

void TlsContext::evict_session(const std::string& origin_key) {
  auto found = index_.find(origin_key);
  if (found != index_.end()) drop(found->second);
}

void TlsContext::drop(std::list<CachedSession>::iterator it) {
  index_.erase(std::string_view(it->key));
  SSL_SESSION_free(it->session);
  lru_.erase(it);
}

int TlsContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* origin_key = static_cast<const std::string*>(SSL_get_app_data(ssl));
  if (!self || !origin_key) return 0;  // 0: OpenSSL keeps (and frees) its reference
  self->store_session(*origin_key, session);
  return 1;  // 1: the reference is ours now
}

void TlsContext::store_session(const std::string& origin_key, SSL_SESSION* session) {
  if (cache_capacity_ == 0) {
    SSL_SESSION_free(session);
    return;
  }
  // One session per origin, the newest: TLS 1.3 servers send several tickets
  // per handshake and a resumed handshake brings a fresh one.
  auto found = index_.find(origin_key);
  if (found != index_.end()) {
    auto it = found->second;
    SSL_SESSION_free(it->session);
    it->session = session;
    lru_.splice(lru_.begin(), lru_, it);
    return;
  }
  lru_.push_front(CachedSession{origin_key, session});
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
  while (lru_.size() > cache_capacity_) drop(std::prev(lru_.end()));
}

}  // namespace cpc
