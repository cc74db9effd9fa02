#!/usr/bin/env node
// The `haflow` command. haflow is written in TypeScript and runs through tsx, so a clone
// works after `npm ci` with no build step.
require('tsx/cjs');
// `haflow render … | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
require('../cli/main.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
