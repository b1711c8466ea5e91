// commands.js — what a message that starts with "/" means. The page knows
// two commands, and the rule for everything else is short:
//
//   /me waves     an action: sent as { text: "waves", action: true } and
//                 shown to everyone as "* alice waves"
//   /help         the list below, shown only to you (nothing is sent)
//   /anything     a command the page does not know: it says so, and sends
//                 nothing (a typo such as "/mee" would otherwise go out)
//   //text        sends "/text": a message that really starts with a slash
//
// Only "/" followed by a word and then a space (or the end) is a command,
// so "/usr/bin is full", "/ 2" and "1/2" are ordinary messages.

// The command word: letters, then letters, digits, "_" or "-".
const COMMAND = /^\/(\p{L}[\p{L}\p{N}_-]*)(?:\s+|$)/u;

/** What /help shows you (`me`): [what you type, what it does]. */
export const helpLines = (me) => [
  ['/me waves', `says what you do: everyone sees “* ${me} waves”`],
  ['/help', 'this list (only you see it)'],
  ['//text', 'sends “/text”: a message that starts with a slash'],
  ['@name', 'mentions someone (they are notified, even in a muted room)'],
  ['↑', 'in an empty message box: edit your last message (Esc cancels)'],
  ['Esc', 'cancels an edit or a reply'],
  ['Ctrl+/', 'every keyboard shortcut'],
];

/**
 * What the composer's text asks for:
 *   { kind: 'message', text, action }   send it (action: a /me)
 *   { kind: 'help' }                    show helpLines()
 *   { kind: 'empty-action' }            "/me" with nothing after it
 *   { kind: 'unknown', name }           "/name" is not a command here
 */
export function parseCommand(text) {
  if (text.startsWith('//')) return { kind: 'message', text: text.slice(1), action: false };
  const match = text.match(COMMAND);
  if (!match) return { kind: 'message', text, action: false };
  const name = match[1].toLowerCase();
  const rest = text.slice(match[0].length).trim();
  if (name === 'me') return rest === '' ? { kind: 'empty-action' } : { kind: 'message', text: rest, action: true };
  if (name === 'help') return { kind: 'help' };
  return { kind: 'unknown', name: match[1] };
}
