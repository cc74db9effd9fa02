// What the CLI prints on a terminal is fitted to its width: wrapped between words, the rest
// indented under the text, never a word cut in two.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fitToWidth, loadWrapper } from '../../cli/fit';

before(loadWrapper);

const line = 'changed    patroni.config@node2            wrote /etc/patroni/config.yml (root:postgres 640), reloaded patroni; backup /etc/patroni/config.yml.haflow-backup-20261128T120000Z';

test('no line is wider than the terminal, nothing is lost, and only a word longer than a whole line is cut', () => {
  for (const width of [40, 60, 80, 120]) {
    const fitted = fitToWidth(line, width, () => 45);
    for (const l of fitted.split('\n')) assert.ok(l.length <= width, `${l.length} > ${width}: ${l}`);
    assert.equal(fitted.replace(/\s+/g, ''), line.replace(/\s+/g, ''), `width ${width}: every character, in order`);
    const room = width - Math.min(45, width - 30);
    const pieces = new Set(fitted.split(/\s+/));
    for (const word of line.split(/\s+/).filter((w) => w.length <= room)) assert.ok(pieces.has(word), `width ${width}: ${word} was cut`);
  }
});

test('the wrapped part starts under the text, but never leaves it fewer than 30 columns', () => {
  const [first, second] = fitToWidth(line, 100, () => 45).split('\n');
  assert.ok(first.startsWith('changed    patroni.config@node2'));
  assert.match(second, /^ {45}\S/);
  const narrow = fitToWidth(line, 50, () => 45).split('\n');
  assert.ok(narrow.slice(1).every((l) => /^ {20}\S/.test(l)), narrow.join('\n'));
});

test('lines that fit are left exactly as they are', () => {
  const text = 'short\n  indented and short\n';
  assert.equal(fitToWidth(text, 80), text);
});
