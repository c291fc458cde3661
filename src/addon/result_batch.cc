#include "addon/result_batch.h"

#include <cstring>
#include <string>

namespace cpc_addon {
namespace {

double ms(uint64_t from_ns, uint64_t to_ns) {
  return (from_ns && to_ns > from_ns) ? static_cast<double>(to_ns - from_ns) / 1e6 : 0.0;
}

}  // namespace

ResultBatch::ResultBatch(Napi::Env env) {
  Napi::ArrayBuffer meta = Napi::ArrayBuffer::New(env, kMaxEntries * kFields * sizeof(double));
  Napi::ArrayBuffer bytes = Napi::ArrayBuffer::New(env, kArenaBytes);
  meta_ = static_cast<double*>(meta.Data());
  bytes_ = static_cast<uint8_t*>(bytes.Data());
  meta_ref_ = Napi::Persistent(meta);
  bytes_ref_ = Napi::Persistent(bytes);
}

void ResultBatch::reset() {
  count_ = 0;
  used_ = 0;
  extras_ = nullptr;
  extras_count_ = 0;
}

uint32_t ResultBatch::push_extra(Napi::Env env, Napi::Value v) {
  if (!extras_) napi_create_array(env, &extras_);
  napi_set_element(env, extras_, extras_count_, v);
  return extras_count_++;
}

Napi::Value ResultBatch::extras(Napi::Env env) const {
  return extras_ ? Napi::Value(env, extras_) : env.Undefined();
}

bool ResultBatch::add(Napi::Env env, cpc::Request* req, Napi::Value error) {
  if (count_ == kMaxEntries) return false;
  double* m = meta_ + count_ * kFields;
  m[0] = static_cast<double>(req->slot);
  if (!error.IsEmpty()) {
    m[1] = -1;
    m[11] = push_extra(env, error);
    count_++;
    return true;
  }
  const cpc::Response& r = req->response;
  const size_t message_len = r.status_message.size();
  size_t name_bytes = 0;
  size_t value_bytes = 0;
  for (const cpc::HeaderSpan& h : r.headers) {
    name_bytes += h.name_length;
    value_bytes += h.value_length;
  }
  const size_t count = r.headers.size();
  const size_t named_len = name_bytes + value_bytes + 2 * count;
  const bool inline_body = r.body.size() <= kInlineBodyLimit;
  const bool inline_headers = message_len + named_len <= kArenaBytes / 2;
  const int shape = inline_headers ? shapes_.find_or_add(r) : -1;
  const size_t header_len = shape >= 0 ? value_bytes + (count > 0 ? count - 1 : 0) : named_len;
  size_t need = (inline_headers ? message_len + header_len : 0) + (inline_body ? r.body.size() : 0);
  if (used_ + need > kArenaBytes) {
    if (count_ > 0) return false;  // flush first; an empty batch always fits
  }

  m[1] = r.status;
  m[2] = req->reused ? 1 : 0;
  m[3] = ms(req->start_ns, req->assigned_ns);
  m[4] = req->connect_ms;
  m[5] = ms(req->start_ns, req->first_byte_ns);
  m[6] = ms(req->start_ns, req->done_ns);
  m[7] = static_cast<double>(used_);
  m[12] = shape;
  uint8_t* out = bytes_ + used_;
  if (inline_headers) {
    memcpy(out, r.status_message.data(), message_len);
    out += message_len;
    if (shape >= 0) {
      for (size_t i = 0; i < count; i++) {
        const cpc::HeaderSpan& h = r.headers[i];
        if (i > 0) *out++ = 0;
        memcpy(out, r.header_bytes.data() + h.value_offset, h.value_length);
        out += h.value_length;
      }
    } else {
      for (const cpc::HeaderSpan& h : r.headers) {
        memcpy(out, r.header_bytes.data() + h.name_offset, h.name_length);
        out += h.name_length;
        *out++ = 0;
        memcpy(out, r.header_bytes.data() + h.value_offset, h.value_length);
        out += h.value_length;
        *out++ = 0;
      }
    }
    m[8] = static_cast<double>(message_len);
    m[9] = static_cast<double>(header_len);
  } else {
    // Oversized header sections (maxHeaderSize raised far above 16 KiB).
    std::string block = r.status_message;
    for (const cpc::HeaderSpan& h : r.headers) {
      block.append(r.header_bytes, h.name_offset, h.name_length).push_back('\0');
      block.append(r.header_bytes, h.value_offset, h.value_length).push_back('\0');
    }
    m[8] = static_cast<double>(message_len);
    // latin1, like the inline path (values may carry obs-text bytes).
    napi_value str;
    napi_create_string_latin1(env, block.data(), block.size(), &str);
    m[9] = -1.0 - push_extra(env, Napi::Value(env, str));  // JS slices it
  }
  if (inline_body) {
    memcpy(out, r.body.data(), r.body.size());
    out += r.body.size();
    m[10] = static_cast<double>(r.body.size());
  } else {
    // Zero copy: the Buffer takes the body's storage and frees it when collected.
    auto* owned = new std::string(std::move(req->response.body));
    Napi::Value buf = Napi::Buffer<char>::New(
        env, owned->data(), owned->size(), [](Napi::Env, char*, std::string* s) { delete s; }, owned);
    m[10] = -1.0 - push_extra(env, buf);
  }
  used_ = static_cast<size_t>(out - bytes_);
  count_++;
  return true;
}

}  // namespace cpc_addon
