// Tests that need a program or file from a Debian package (haproxy, ssh-keygen, sshd, patroni,
// systemd-analyze, Debian's unit files). Where it is missing they are skipped, loudly; in CI,
// which installs all of them, a missing one is a failure: HAFLOW_REQUIRE_TOOLS=1 (.ci/run sets
// it) turns every such skip into an error, so a check cannot silently stop running.
import { test } from 'node:test';

/**
 * `reason` is why the tests cannot run here (false: they can). Returns the skip option for
 * node:test, after saying so on stderr; under HAFLOW_REQUIRE_TOOLS it registers a failing
 * test instead and returns false, so the tests run and fail on what is missing too.
 */
export function requires(reason: string | false): string | false {
  if (reason === false) return false;
  if (process.env.HAFLOW_REQUIRE_TOOLS) {
    test(`required here (HAFLOW_REQUIRE_TOOLS): ${reason}`, () => {
      throw new Error(`${reason}; .ci/run installs it, so its absence is a broken set-up, not a reason to skip`);
    });
    return false;
  }
  process.stderr.write(`\n*** SKIPPED: ${reason}. Install it (bash .ci/run does) to run these checks. ***\n\n`);
  return `SKIPPED: ${reason}`;
}
