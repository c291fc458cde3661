// Per-environment state of the addon (main thread and each worker have
// their own): never statics, per node-addon-api's addon.md.
#pragma once

#include <napi.h>

namespace cpc_addon {

struct InstanceData {
  Napi::FunctionReference create_pool_error;  // lib/errors.js createPoolError
  Napi::FunctionReference pool_constructor;
};

InstanceData* instance(Napi::Env env);

// Builds a PoolError through lib/errors.js (the one place errors are made).
// `props` may be empty.
Napi::Value make_pool_error(Napi::Env env, const char* code, const std::string& message,
                            Napi::Object props);

}  // namespace cpc_addon
