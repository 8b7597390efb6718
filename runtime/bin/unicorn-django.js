#!/usr/bin/env node
// `unicorn-django [OPTIONS]`: serves the Django project in the current directory.
require('../../dist/runtime/cli.js').main('unicorn-django', process.argv.slice(2));
