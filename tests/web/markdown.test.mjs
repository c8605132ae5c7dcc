// Unit tests of the message parser (web/js/markdown.js): `node --test tests/web/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_PARSE, parse, plainText, safeHref, toDom } from '../../web/js/markdown.js';

test('plain text stays one text node, HTML included', () => {
  const payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
  assert.deepEqual(parse(payload), [{ type: 'text', text: payload }]);
});

test('bold, italics and inline code', () => {
  assert.deepEqual(parse('**a** *b* _c_ `d<e>`'), [
    { type: 'strong', children: [{ type: 'text', text: 'a' }] },
    { type: 'text', text: ' ' },
    { type: 'em', children: [{ type: 'text', text: 'b' }] },
    { type: 'text', text: ' ' },
    { type: 'em', children: [{ type: 'text', text: 'c' }] },
    { type: 'text', text: ' ' },
    { type: 'code', text: 'd<e>' },
  ]);
});

test('no markdown inside code spans', () => {
  assert.deepEqual(parse('`**not bold**`'), [{ type: 'code', text: '**not bold**' }]);
});

test('underscores inside words are not italics', () => {
  assert.deepEqual(parse('snake_case_name'), [{ type: 'text', text: 'snake_case_name' }]);
});

test('fenced code keeps its text and language', () => {
  assert.deepEqual(parse('before\n```py\nif a < b:\n    **x**\n```\nafter'), [
    { type: 'text', text: 'before' },
    { type: 'pre', lang: 'py', text: 'if a < b:\n    **x**' },
    { type: 'text', text: 'after' },
  ]);
});

test('links: http, https and mailto only', () => {
  assert.deepEqual(parse('[docs](https://example.com/a?b=1)'), [
    { type: 'link', href: 'https://example.com/a?b=1', children: [{ type: 'text', text: 'docs' }] },
  ]);
  for (const bad of ['javascript:alert(1)', 'data:text/html,x', 'vbscript:x', '/relative']) {
    assert.deepEqual(parse(`[x](${bad})`), [{ type: 'text', text: `[x](${bad})` }], bad);
  }
  assert.equal(safeHref('mailto:a@b.example'), 'mailto:a@b.example');
  assert.equal(safeHref('JAVASCRIPT:alert(1)'), null);
  assert.equal(safeHref('java\tscript:alert(1)'), null);
});

test('bare URLs become links without trailing punctuation', () => {
  assert.deepEqual(parse('see https://example.com/x.'), [
    { type: 'text', text: 'see ' },
    {
      type: 'link',
      href: 'https://example.com/x',
      children: [{ type: 'text', text: 'https://example.com/x' }],
    },
    { type: 'text', text: '.' },
  ]);
});

test('line breaks', () => {
  assert.deepEqual(parse('a\nb'), [{ type: 'text', text: 'a' }, { type: 'br' }, { type: 'text', text: 'b' }]);
});

test('very long input is bounded and loses nothing', () => {
  const text = `${'*'.repeat(MAX_PARSE)}tail`;
  assert.equal(plainText(parse(text)).endsWith('tail'), true);
});

/** Just enough of a DOM to see what toDom builds. */
function fakeDocument() {
  const element = (tag) => ({
    tag,
    children: [],
    dataset: {},
    append(...nodes) {
      this.children.push(...nodes);
    },
  });
  return {
    createElement: element,
    createTextNode: (text) => ({ tag: '#text', text }),
  };
}

test('toDom builds elements and text nodes only; links are safe', () => {
  const [link, , text] = toDom(parse('[x](https://a.example) <b>'), fakeDocument());
  assert.equal(link.tag, 'a');
  assert.equal(link.href, 'https://a.example/');
  assert.equal(link.rel, 'noopener noreferrer');
  assert.equal(text, undefined);
  const nodes = toDom([{ type: 'link', href: 'javascript:alert(1)', children: [] }], fakeDocument());
  assert.equal(nodes[0].tag, '#text'); // a forged tree still cannot make a script link
});
