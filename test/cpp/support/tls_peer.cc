#include "support/tls_peer.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>

namespace cpc_test {
namespace {

[[noreturn]] void die(const char* what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  std::fprintf(stderr, "tls_peer: %s: %s\n", what, buf);
  std::abort();
}

void add_ext(X509* cert, X509V3_CTX* v3, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, v3, nid, value);
  if (!ext || X509_add_ext(cert, ext, -1) != 1) die("X509_add_ext");
  X509_EXTENSION_free(ext);
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

}  // namespace

Identity make_identity(const CertSpec& spec, const Identity* issuer) {
  static long serial = 1000;
  Identity id;
  id.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  if (!id.key) die("EVP_PKEY_Q_keygen");
  X509* cert = X509_new();
  id.cert.reset(cert, X509_free);
  X509_set_version(cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), spec.not_before_days * 86400L);
  X509_gmtime_adj(X509_getm_notAfter(cert), spec.not_after_days * 86400L);
  X509_set_pubkey(cert, id.key.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                             -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert.get() : cert;
  EVP_PKEY* issuer_key = issuer ? issuer->key.get() : id.key.get();
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));

  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer_cert, cert, nullptr, nullptr, 0);
  add_ext(cert, &v3, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(cert, &v3, NID_key_usage,
          spec.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (!spec.ca) add_ext(cert, &v3, NID_ext_key_usage, "serverAuth,clientAuth");
  add_ext(cert, &v3, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(cert, &v3, NID_authority_key_identifier, "keyid:always");
  if (!spec.subject_alt_names.empty()) {
    add_ext(cert, &v3, NID_subject_alt_name, spec.subject_alt_names.c_str());
  }
  if (X509_sign(cert, issuer_key, EVP_sha256()) == 0) die("X509_sign");

  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  id.cert_pem = bio_string(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, id.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  id.key_pem = bio_string(bio);
  return id;
}

const TestPki& TestPki::get() {
  static const TestPki* pki = [] {
    auto* p = new TestPki();
    const std::string local = "DNS:localhost,IP:127.0.0.1,IP:::1";
    p->ca = make_identity({"cpc test CA", "", true}, nullptr);
    p->leaf = make_identity({"localhost", local}, &p->ca);
    p->wrong_host = make_identity({"other.example", "DNS:other.example"}, &p->ca);
    p->expired = make_identity({"localhost", local, false, -10, -1}, &p->ca);
    p->client = make_identity({"client", ""}, &p->ca);
    p->self_signed = make_identity({"localhost", local}, nullptr);
    p->other_ca = make_identity({"untrusted CA", "", true}, nullptr);
    p->unknown_leaf = make_identity({"localhost", local}, &p->other_ca);
    return p;
  }();
  return *pki;
}

TestTlsServer::TestTlsServer(const ServerOptions& options) {
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (!ctx_) die("SSL_CTX_new");
  if (SSL_CTX_use_certificate(ctx_, options.identity->cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx_, options.identity->key.get()) != 1) {
    die("server certificate");
  }
  if (options.max_version) SSL_CTX_set_max_proto_version(ctx_, options.max_version);
  if (!options.tickets) SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
  static const unsigned char kSidContext[] = "cpc-test";
  SSL_CTX_set_session_id_context(ctx_, kSidContext, sizeof(kSidContext) - 1);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_SERVER);
  if (options.require_client_cert_from) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    X509_STORE_add_cert(store, options.require_client_cert_from->cert.get());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  SSL_CTX_set_alpn_select_cb(ctx_, &TestTlsServerConn::on_alpn, nullptr);
}

TestTlsServer::~TestTlsServer() { SSL_CTX_free(ctx_); }

TestTlsServerConn::TestTlsServerConn(const TestTlsServer& server) {
  ssl_ = SSL_new(server.ctx());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !in_ || !out_) die("server SSL_new");
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_accept_state(ssl_);
  SSL_set_app_data(ssl_, this);
}

TestTlsServerConn::~TestTlsServerConn() { SSL_free(ssl_); }

int TestTlsServerConn::on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                               const unsigned char* in, unsigned int inlen, void*) {
  auto* self = static_cast<TestTlsServerConn*>(SSL_get_app_data(ssl));
  self->offered_alpn_.assign(reinterpret_cast<const char*>(in), inlen);
  static const unsigned char kOurs[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kOurs, sizeof(kOurs), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

void TestTlsServerConn::feed(const std::string& ciphertext) {
  if (!ciphertext.empty()) BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size()));
}

void TestTlsServerConn::step() {
  if (failed_ || closed_) return;
  ERR_clear_error();
  if (!done_) {
    int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ) {
        failed_ = true;
        const char* reason = ERR_reason_error_string(ERR_peek_error());
        failure_ = reason ? reason : "server handshake failed";
      }
      ERR_clear_error();
      return;
    }
    done_ = true;
  }
  char buf[16384];
  for (;;) {
    int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) {
      plain_.append(buf, static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_ZERO_RETURN) {
      closed_ = true;
    } else if (e != SSL_ERROR_WANT_READ) {
      failed_ = true;
      const char* reason = ERR_reason_error_string(ERR_peek_error());
      failure_ = reason ? reason : "server read failed";
    }
    ERR_clear_error();
    return;
  }
}

std::string TestTlsServerConn::take_output() {
  std::string out;
  char buf[16384];
  int n;
  while ((n = BIO_read(out_, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void TestTlsServerConn::send(const std::string& plaintext) {
  if (SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size())) <= 0) {
    die("server SSL_write");
  }
}

void TestTlsServerConn::close_notify() { SSL_shutdown(ssl_); }

std::string TestTlsServerConn::servername() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name ? name : "";
}

std::string TestTlsServerConn::selected_alpn() const {
  const unsigned char* proto = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &proto, &len);
  if (!proto) return "";
  return std::string(reinterpret_cast<const char*>(proto), len);
}

}  // namespace cpc_test
