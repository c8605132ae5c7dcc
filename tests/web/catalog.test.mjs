// Unit tests of the command catalog (web/js/catalog.js): `node --test tests/web/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { entryFor, isAllowed, suggest } from '../../web/js/catalog.js';

const catalog = [
  { command: '/help', allowed_in: ['IDLE', 'SPRINT_ACTIVE'], needs_project: false },
  { command: '/sprint start', allowed_in: ['SPRINT_PLANNED'], needs_project: true },
  { command: '/sprint status', allowed_in: ['SPRINT_ACTIVE'], needs_project: true },
];

test('without a project open, a command that needs one is not allowed now', () => {
  const shown = suggest(catalog, '/sprint', { inProject: false });
  assert.deepEqual(
    shown.map((entry) => [entry.command, entry.allowedNow]),
    [
      ['/sprint start', false],
      ['/sprint status', false],
    ],
  );
  assert.equal(isAllowed(catalog[0], { inProject: false }), true);
});

test("in a project, the project's state decides (or the server's list, when known)", () => {
  assert.equal(isAllowed(catalog[1], { state: 'SPRINT_PLANNED' }), true);
  assert.equal(isAllowed(catalog[2], { state: 'SPRINT_PLANNED' }), false);
  const known = { state: 'SPRINT_PLANNED', allowed: ['/sprint status'] };
  assert.equal(isAllowed(catalog[2], known), true);
});

test('a command line is matched to its longest command name, not a prefix of a word', () => {
  const withGroup = [{ command: '/sprint' }, ...catalog];
  assert.equal(entryFor(withGroup, '/sprint start').command, '/sprint start');
  assert.equal(entryFor(withGroup, '/sprint status now').command, '/sprint status');
  assert.equal(entryFor(withGroup, '/sprint').command, '/sprint');
  assert.equal(entryFor(catalog, '/helpme'), null);
});
