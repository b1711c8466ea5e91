// roles.test.mjs — who may act on whom, from a room's settings
// (assets/js/roles.js), without a browser: the module is plain functions,
// so node loads it as it is. The page shows moderation controls only where
// these say so; the server checks every request again.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { moderates, outranks, roleOfName, roleOfUid } from '../../assets/js/roles.js';

const settings = {
  owned: true,
  roles: [
    { uid: 'aaaaaaaaaaaa', user: 'Alice', role: 'owner' },
    { uid: 'bbbbbbbbbbbb', user: 'bob', role: 'moderator' },
  ],
};

test('a role is found by uid or by name (as the server compares names); anyone else is a member', () => {
  assert.equal(roleOfUid(settings, 'aaaaaaaaaaaa'), 'owner');
  assert.equal(roleOfUid(settings, 'bbbbbbbbbbbb'), 'moderator');
  assert.equal(roleOfUid(settings, 'cccccccccccc'), 'member');
  assert.equal(roleOfUid(settings, undefined), 'member');
  assert.equal(roleOfUid(undefined, 'aaaaaaaaaaaa'), 'member', 'no settings yet: a member');
  assert.equal(roleOfName(settings, 'alice'), 'owner');
  assert.equal(roleOfName(settings, 'ＢＯＢ'), 'moderator', 'fullwidth letters are the same name');
  assert.equal(roleOfName(settings, 'carol'), 'member');
});

test('nobody acts on an equal or higher role', () => {
  assert.ok(outranks('owner', 'moderator'));
  assert.ok(outranks('owner', 'member'));
  assert.ok(outranks('moderator', 'member'));
  assert.ok(!outranks('moderator', 'moderator'));
  assert.ok(!outranks('moderator', 'owner'));
  assert.ok(!outranks('owner', 'owner'));
  assert.ok(!outranks('member', 'member'));
  assert.ok(moderates('owner') && moderates('moderator') && !moderates('member'));
});
