// Module init: registers the classes and functions, nothing else. State is
// per environment (instance data), so workers and repeated loads are safe.
#include <napi.h>

#include <string>
#include <vector>

#include "addon/convert.h"
#include "addon/instance.h"
#include "addon/pool_wrap.h"
#include "core/config.h"
#include "core/tls_context.h"

namespace cpc_addon {

InstanceData* instance(Napi::Env env) { return env.GetInstanceData<InstanceData>(); }

Napi::Value make_pool_error(Napi::Env env, const char* code, const std::string& message,
                            Napi::Object props) {
  InstanceData* data = instance(env);
  if (!data || data->create_pool_error.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, message);
    e.Set("code", code);
    return e.Value();
  }
  napi_value p = props.IsEmpty() ? env.Undefined() : static_cast<napi_value>(props);
  return data->create_pool_error.Call({Napi::String::New(env, code), Napi::String::New(env, message), p});
}

namespace {

// init({ createPoolError }): lib/errors.js hands over its factory once.
Napi::Value InitLib(const Napi::CallbackInfo& info) {
  Napi::Object lib = info[0].As<Napi::Object>();
  instance(info.Env())->create_pool_error = Napi::Persistent(lib.Get("createPoolError").As<Napi::Function>());
  return info.Env().Undefined();
}

// configFromEnv(env) -> options object; throws ERR_POOL_CONFIG.
Napi::Value ConfigFromEnv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object vars = info[0].As<Napi::Object>();
  std::vector<std::string> held;  // keeps each value alive while parse_env reads it
  held.reserve(32);
  cpc::GetEnv getenv = [&](const char* name) -> const char* {
    Napi::Value v = vars.Get(name);
    if (!v.IsString()) return nullptr;
    held.push_back(v.As<Napi::String>().Utf8Value());
    return held.back().c_str();
  };
  std::vector<cpc::Setting> settings;
  std::string err;
  if (!cpc::parse_env(getenv, &settings, &err)) {
    Napi::Value e = make_pool_error(env, "ERR_POOL_CONFIG", err, Napi::Object());
    if (!env.IsExceptionPending()) napi_throw(env, e);
    return env.Undefined();
  }
  return settings_to_object(env, settings);
}

}  // namespace

// setDefaultCaPems(pems[]): Node's default trust (tls.rootCertificates +
// NODE_EXTRA_CA_CERTS), handed over once per process by lib/.
Napi::Value SetDefaultCaPems(const Napi::CallbackInfo& info) {
  std::vector<std::string> pems;
  if (info[0].IsArray()) {
    Napi::Array arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (v.IsString()) pems.push_back(v.As<Napi::String>().Utf8Value());
    }
  }
  cpc::set_default_ca_pems(std::move(pems));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new InstanceData();
  env.SetInstanceData<InstanceData>(data);
  exports.Set("NativePool", PoolWrap::Init(env));
  exports.Set("execute", Napi::Function::New<PoolWrap::ExecuteByHandle>(env, "execute"));
  exports.Set("init", Napi::Function::New<InitLib>(env, "init"));
  exports.Set("configFromEnv", Napi::Function::New<ConfigFromEnv>(env, "configFromEnv"));
  exports.Set("setDefaultCaPems", Napi::Function::New<SetDefaultCaPems>(env, "setDefaultCaPems"));
  return exports;
}

}  // namespace cpc_addon

namespace {
Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return cpc_addon::Init(env, exports); }
}  // namespace

NODE_API_MODULE(connection_pool_core, InitModule)
