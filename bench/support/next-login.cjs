// autocannon setupRequest for worker mode (a file, since functions cannot be
// sent to a worker): each request logs in as the next benchmark account.
"use strict";
const bodies = JSON.parse(process.env.SPILLWAY_BENCH_LOGIN_BODIES || "[]");
let next = 0;
module.exports = (request) => {
  request.body = bodies[next++ % bodies.length];
  return request;
};
