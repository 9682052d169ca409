// Preloaded by eventlab into kinesis-mock (node --require <this file> main.js), which has no
// setting for the address it listens on and otherwise binds every interface. Every TCP listen
// of the process (its plain and its TLS port) is made to bind 127.0.0.1 instead; listening on a
// path (a Unix socket) or on an inherited handle is left as it is.
"use strict";

const net = require("net");

const HOST = "127.0.0.1";
const original = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value));
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (args.length === 0 || typeof first === "function" || first === undefined || first === null) {
    args.splice(0, first === undefined || first === null ? 1 : 0, 0, HOST); // listen([cb]): any port
  } else if (isPort(first)) {
    if (typeof args[1] === "string") {
      args[1] = HOST; // listen(port, host, ...)
    } else {
      args.splice(1, 0, HOST); // listen(port[, backlog][, cb])
    }
  } else if (typeof first === "object" && first.path === undefined && first.fd === undefined &&
             first.handle === undefined && first._handle === undefined) {
    args[0] = { ...first, host: HOST }; // listen({ port, host, ... })
  }
  return original.apply(this, args);
};
