# Native addon build (node-gyp). Run through `npm install` / `npm run build`
# (scripts/build-addon.js copies llhttp into deps/llhttp/ and passes --nodedir).
# libuv and OpenSSL come from node itself: include Node's headers, link nothing.
{
  'targets': [
    {
      'target_name': 'connection_pool_core',
      'sources': [
        # Every .cc in src/core and src/addon, listed at gyp time (relative paths).
        "<!@(node -p \"const fs=require('fs');['src/core','src/addon'].flatMap(d=>fs.existsSync(d)?fs.readdirSync(d).filter(f=>f.endsWith('.cc')).sort().map(f=>d+'/'+f):[]).join(' ')\")",
        'deps/llhttp/llhttp.c',
        'deps/llhttp/api.c',
        'deps/llhttp/http.c',
      ],
      'include_dirs': [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        'deps/llhttp',
        'src',
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_DISABLE_CPP_EXCEPTIONS',
        'LLHTTP_STRICT_MODE=1',
      ],
      # -O2 in cflags_c/cflags_cc: they come after common.gypi's Release -O3 on the command line.
      'cflags': ['-fvisibility=hidden'],
      'cflags_c': ['-O2'],
      'cflags_cc': ['-fvisibility=hidden', '-std=c++17', '-fno-exceptions', '-O2'],
      'ldflags': ['-Wl,--version-script=<(module_root_dir)/scripts/exports.map'],
      'conditions': [
        ['OS=="mac"', {
          'xcode_settings': {
            'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
            'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
            'GCC_ENABLE_CPP_EXCEPTIONS': 'NO',
          },
        }],
      ],
    },
  ],
}
