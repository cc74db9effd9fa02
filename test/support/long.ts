// The long tests: minutes each on the lab. They run when HAFLOW_LONG_TESTS=1
// (`HAFLOW_LONG_TESTS=1 npm test`), so that the default suite stays well under 30 minutes.
export function longTest(): { skip?: string } {
  return process.env.HAFLOW_LONG_TESTS === '1' ? {} : { skip: 'long test: run it with HAFLOW_LONG_TESTS=1' };
}
