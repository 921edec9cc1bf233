// Prints what shows that the image carries what a Node program needs: the
// interpreter from the base, and the npm dependencies from node_modules,
// found next to this file.
"use strict";

const ms = require("ms");
const prettyBytes = require("pretty-bytes");

console.log(`Hello from Node ${process.version} in a rules_img image`);
console.log(`ms: 7200000 ms is ${ms(7200000, { long: true })}, and 90s is ${ms("90s")} ms`);
console.log(`pretty-bytes: 1337 bytes are ${prettyBytes(1337)}`);
console.log(`ms comes from ${require.resolve("ms")}`);
console.log(`NODE_ENV: ${process.env.NODE_ENV}`);
