'use strict';

// Private symbols shared by several files of lib/ (one used by a single file
// is declared at the top of that file).
module.exports = {
  kNative: Symbol('kNative'),  // the NativePool of a ConnectionPoolCore
  kTrack: Symbol('kTrack'),    // (handle, signal) -> the promise of a native request
  // The pool's maxResponseSize option (undefined: the default), which also
  // bounds bodies that pool.fetch and the ethers adapter decode.
  kMaxResponseSize: Symbol('kMaxResponseSize'),
};
