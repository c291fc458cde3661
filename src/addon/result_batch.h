// Packs finished requests for JS in one crossing per batch.
//
// Crossing N-API per field costs more than the HTTP work itself, so the
// numbers of each result go into a shared Float64Array and its bytes
// (status message, header block, small body) into a shared byte arena;
// lib/connection-pool-core.js reads both and builds the response objects
// in JS, where object literals are cheap. Large bodies are handed over
// without a copy as external Buffers; errors as PoolError objects. Both go
// in the `extras` array, which exists only for batches that need it.
//
// Entry layout (doubles, kFields per entry) — keep in sync with lib/:
//   0 slot  1 status (-1: error)  2 reused  3 queued  4 connect  5 ttfb
//   6 total  7 byte offset  8 status-message length  9 header-block length
//   (or -(extras index + 1))  10 body length (or -(extras index + 1))
//   11 extras index of the error (errors only)  12 header shape (-1: none)
// With a header shape (header_shapes.h) the header block is the values only,
// "value\0value\0...value", in the shape's name order; without one it is
// "name\0value\0..." with lower-case names.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

#include "addon/header_shapes.h"
#include "core/request.h"

namespace cpc_addon {

class ResultBatch {
 public:
  static constexpr size_t kFields = 13;
  // Per pool, so kept small: a bigger batch is delivered in several calls.
  static constexpr size_t kMaxEntries = 256;
  static constexpr size_t kArenaBytes = 64 * 1024;
  static constexpr size_t kInlineBodyLimit = 16 * 1024;

  explicit ResultBatch(Napi::Env env);

  Napi::ArrayBuffer meta_buffer() const { return meta_ref_.Value(); }
  Napi::ArrayBuffer bytes_buffer() const { return bytes_ref_.Value(); }

  void reset();
  size_t count() const { return count_; }
  // Packs one result; false when the batch is full (flush and retry).
  // An empty batch always accepts. May move a large body out of `req`.
  bool add(Napi::Env env, cpc::Request* req, Napi::Value error);
  // The extras array, or undefined when no entry needed one.
  Napi::Value extras(Napi::Env env) const;
  const HeaderShapes& shapes() const { return shapes_; }

 private:
  uint32_t push_extra(Napi::Env env, Napi::Value v);

  Napi::Reference<Napi::ArrayBuffer> meta_ref_;
  Napi::Reference<Napi::ArrayBuffer> bytes_ref_;
  double* meta_ = nullptr;    // Borrowed: memory of meta_ref_'s ArrayBuffer.
  uint8_t* bytes_ = nullptr;  // Borrowed: memory of bytes_ref_'s ArrayBuffer.
  size_t count_ = 0;
  size_t used_ = 0;
  napi_value extras_ = nullptr;  // valid within one deliver() handle scope
  uint32_t extras_count_ = 0;
  HeaderShapes shapes_;
};

}  // namespace cpc_addon
