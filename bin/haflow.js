#!/usr/bin/env node
// The `haflow` command. haflow is written in TypeScript and runs through tsx, so a clone
// works after `npm ci` with no build step.
require('tsx/cjs');
require('../client/cli.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
