// roles.js — who may do what in a room: owner > moderator > member. Pure
// functions over a room's `settings` (the server's `joined.settings` and
// `room` frames), so they are easy to read and to test. The server checks
// every request again; the page only uses these to decide which controls
// to show, so a member never sees a button that can only be refused.

const RANK = { member: 0, moderator: 1, owner: 2 };

/** The role of the person with this uid (absent from `roles`: a member). */
export function roleOfUid(settings, uid) {
  if (uid === undefined) return 'member';
  return settings?.roles?.find((r) => r.uid === uid)?.role ?? 'member';
}

/** The role of a name in the member list (names compare as the server's do). */
export function roleOfName(settings, name) {
  const key = String(name).normalize('NFKC').toLowerCase();
  const entry = settings?.roles?.find((r) => String(r.user).normalize('NFKC').toLowerCase() === key);
  return entry?.role ?? 'member';
}

/** Nobody may act on an equal or higher role: an owner on moderators and members, a moderator on members. */
export function outranks(mine, theirs) {
  return RANK[mine] > RANK[theirs];
}

/** Moderators and owners moderate (kick, mute, ban, invites, the topic). */
export const moderates = (role) => RANK[role] >= RANK.moderator;

/** Words for a role, as the card and the room dialog show it. */
export const ROLE_WORDS = { owner: 'Owner', moderator: 'Moderator', member: 'Member' };
