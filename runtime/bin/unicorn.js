#!/usr/bin/env node
// `unicorn [OPTIONS] APP_MODULE`: runs the bundled runtime CLI (build it with `npm run build`).
require('../../dist/runtime/cli.js').main('unicorn', process.argv.slice(2));
