// The excerpt of Patroni's log a blocked rejoin shows: what says why, not the loop's chatter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notablePatroniLines } from '../../activities/patroni/failover';

const log = [
  '2026-11-28 21:59:40,100 INFO: doing crash recovery in a single user mode',
  '2026-11-28 21:59:41.000 UTC [80] LOG:  database system was interrupted; last known up at 21:58:50',
  '2026-11-28 21:59:42,954 INFO: Lock owner: node2; I am node1',
  '2026-11-28 21:59:42,996 INFO: restarting after failure in progress',
  "2026-11-28 21:59:43,032 WARNING: Retry got exception: 'connection problems'",
  '2026-11-28 21:59:44,954 INFO: Lock owner: node2; I am node1',
  '2026-11-28 21:59:44,996 INFO: restarting after failure in progress',
  '',
].join('\n');

test('the loop messages are left out; the last line is kept to show the state it is stuck in', () => {
  assert.deepEqual(notablePatroniLines(log), [
    '2026-11-28 21:59:40,100 INFO: doing crash recovery in a single user mode',
    '2026-11-28 21:59:41.000 UTC [80] LOG:  database system was interrupted; last known up at 21:58:50',
    '…',
    '2026-11-28 21:59:44,996 INFO: restarting after failure in progress',
  ]);
});

test('at most `keep` notable lines, the latest; an empty log gives none', () => {
  const many = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
  assert.deepEqual(notablePatroniLines(many, 3), ['line 27', 'line 28', 'line 29']);
  assert.deepEqual(notablePatroniLines(''), []);
});

test("a traceback of Patroni's REST API when a client hung up is left out; the lines about PostgreSQL stay", () => {
  const withTraceback = [
    '2026-11-29 01:10:00,100 INFO: starting as a secondary',
    '----------------------------------------',
    'Exception occurred during processing of request from (\'127.0.0.1\', 50000)',
    'Traceback (most recent call last):',
    '  File "/usr/lib/python3.11/socketserver.py", line 691, in process_request_thread',
    '    self.finish_request(request, client_address)',
    '  File "/usr/lib/python3.11/socketserver.py", line 755, in __init__',
    '    self.RequestHandlerClass(request, client_address, self)',
    'BrokenPipeError: [Errno 32] Broken pipe',
    '2026-11-29 01:10:01.000 UTC [90] FATAL:  could not start WAL streaming',
    '2026-11-29 01:10:02,000 INFO: postmaster is not running',
  ].join('\n');
  assert.deepEqual(notablePatroniLines(withTraceback), [
    '2026-11-29 01:10:00,100 INFO: starting as a secondary',
    '2026-11-29 01:10:01.000 UTC [90] FATAL:  could not start WAL streaming',
    '2026-11-29 01:10:02,000 INFO: postmaster is not running',
  ]);
});
