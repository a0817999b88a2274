// The bundles' `node:http`, taken the CommonJS way. Importing `node:http` as an ES module makes Node build
// its ES-module namespace, which reads every export, including the lazy `WebSocket`, `CloseEvent` and
// `MessageEvent` getters, and so loads Node's internal undici: tens of milliseconds of every cold start
// for a WebSocket no function uses (cdk/lambda-bundling.ts, BENCHMARKS.md "Lambda cost factors").
module.exports = process.getBuiltinModule('node:http');
