// chat.js — the chat page: start-up and wiring. Each concern has its own
// module; this file only connects them and starts the socket.
//
// The data flow is one direction, like the server's:
//
//   server ──frame──▶ socket.js ──onFrame──▶ frames.js ──▶ state.js
//                                                   └─────▶ render.js ──▶ DOM
//   keyboard ──▶ composer.js ──▶ state (pending) + DOM (marked pending) ──▶ socket.sendMessage()
//
// socket.js never touches the DOM and render.js never touches the network,
// so each file can be read on its own. The modules, one per concern:
//   page.js      what they all share: the server's word, the state, the
//                socket, the elements, one message list per room
//   frames.js    what the socket reports, sent to the module it is about
//   rooms.js     the room list, joining (and the server's answer), leaving,
//                switching, the address
//   messages.js  posted messages, system lines, members, "is typing…"
//   scroll.js    following new messages, each room's place, scroll-back
//   unread.js    unread counts, the tab title, notifications while away
//   composer.js  the input, typing, sending, pending copies and resends,
//                and what an earlier page left unsent (shown again)
//   drafts.js    each room's half-typed text, kept across switches and reloads
//   leaving.js   "Log out?" (with what is not sent yet), and the warning
//                before closing a tab with unsent messages
//   mentions.js  @mention suggestions in the composer; a member's name
//                clicked puts their mention in; the names sent as `mentions`
//   actions.js   what you do to a posted message: its menu (Reply, React,
//                Edit, Delete; a long press on touch screens), reaction
//                chips, a reply's way to its original, and the server's
//                `edit`, `delete` and `reactions` frames
//   editing.js   the composer replying to a message, or editing yours
//   commands.js  /me, /help, and what any other "/word" means
//   keys.js      the page's shortcuts (Alt+↑/↓ rooms, PageUp/PageDown,
//                Ctrl+K) and the sheet listing them all (? or Ctrl+/)
//   switcher.js  the Ctrl+K room switcher
//   settings.js  the settings dialog (theme, notifications, sound,
//                transcript links) and the mute button
//   account.js   claimed names: the dialog's "Claim your name" section,
//                and whether our own name is verified (✓)
//   account-dialog.js  "Your account" for a claimed name (sessions,
//                password, profile, release), opened from Settings
//   card.js      a member's card (✓, bio, colour), from the member list
//                and a message's author
//   drawer.js    the side panel as a drawer on phones, the members button
//   invite.js    "Copy invite link", and the empty room's hint
//   toast.js     a short notice with one action ("Left #x. Undo")
//   inspector.js the protocol inspector (Settings → Protocol inspector):
//                every frame sent and received, as JSON, for learners
// Rooms with owners (issue 16):
//   room-settings.js  the header's topic and marks, and the room dialog:
//                claim, owner link, settings, invite links, mutes and bans
//   owner.js     owner keys: kept per room, the #owner= link, `auth`
//   access.js    when you cannot write: muted, removed, refused at the
//                door (invite, password, locked, banned); the composer's lock
//   moderation.js  the member card's kick/mute/ban/moderator controls,
//                Delete on others' messages, moderation notices
//   dms.js       direct messages ("@bob") in the sidebar
//   directory.js "Browse rooms": the public rooms
//   requests.js  a control's request, and its refusal shown beside it
//   roles.js     owner > moderator > member, from a room's settings
// Images, voice notes and files (issue 17):
//   uploads.js   the attach button, drop and paste; images re-encoded in
//                the browser; each upload's progress, cancel and retry, in
//                the tray above the composer until the message goes
//   voice.js     the mic button: hold or press twice to record a voice note
//                (hidden, with a note why, outside a secure context)
//   attachments.js  a message's images, players and download chips
//   viewer.js    an image opened large, in a modal dialog
// Bots (issue 18):
//   bots.js      the room dialog's "Bots & webhooks", for its owner: the
//                live tokens with Revoke, a new token's secret shown once
//                with its webhook URL and a curl line (render.js draws the
//                BOT badge on what a token posts)
// and the helpers under them:
//   state.js     the page's memory; render.js the DOM it shows, and text.js
//                a message's text in it, as format.js reads it (code,
//                *bold*, _italic_, ~~strike~~, links, @mentions, emoji only)
//   divider.js   "New since you left": where you stopped reading a room
//   prefs.js     your choices (theme, mute, sound, recent emoji) in localStorage
//   outbox.js    your unsent messages in localStorage, under your name
//   notify.js    browser notifications and the sound
//   emoji.js     the emoji picker and :shortcode: completion
//   suggestions.js  the list under the composer that both the :shortcode:
//                and the @mention completion are
//   theme.js     not a module: a classic script in <head> that puts the
//                theme on <html> before the first paint (both pages)
//
// The modules call each other's functions, so some import each other. That
// is safe because none of them runs anything when it loads but looking up
// its elements in page.js: everything else happens in the wire*() calls
// below, once every module is loaded.
//
// One page, several rooms: each room you are in has its own <ol> of
// messages inside the scroller; switching rooms shows another list and
// changes the address to /r/<room> (back and forward switch back).

import { $, input, socket } from './page.js';
import { handleFrame, handleStatus, handleTrouble } from './frames.js';
import { openFirstRooms, renameRoom, wireRooms } from './rooms.js';
import { wireInvite } from './invite.js';
import { wireToast } from './toast.js';
import { wireScroll } from './scroll.js';
import { wireUnread } from './unread.js';
import { restoreUnsent, wireComposer } from './composer.js';
import { wireMentions } from './mentions.js';
import { wireActions } from './actions.js';
import { wireEditing } from './editing.js';
import { wireKeys } from './keys.js';
import { wireLeaving } from './leaving.js';
import { updateNotifyButton, wireSettings } from './settings.js';
import { wireAccount } from './account.js';
import { wireDrawer } from './drawer.js';
import { wireAccountDialog } from './account-dialog.js';
import { wireCard } from './card.js';
import { wireRoomSettings } from './room-settings.js';
import { wireAccess } from './access.js';
import { wireModeration } from './moderation.js';
import { wireDirectory } from './directory.js';
import { wireUploads } from './uploads.js';
import { wireVoice } from './voice.js';
import { wireViewer } from './viewer.js';
import { wireInspector } from './inspector.js';
import { wireBots } from './bots.js';

wireScroll();
wireUnread();
wireRooms();
wireInvite();
wireToast();
wireComposer();
wireMentions();
wireActions();
wireEditing();
wireKeys();
wireSettings();
wireAccount();
wireDrawer();
wireAccountDialog();
wireCard();
wireRoomSettings();
wireBots();
wireAccess();
wireModeration();
wireDirectory();
wireUploads();
wireVoice();
wireViewer();
wireInspector(); // before socket.start(), so it sees the first frames when it is on
wireLeaving();
$('retry-now').addEventListener('click', () => socket.reconnectNow());

openFirstRooms();
restoreUnsent(); // before start(): sent after each room's `joined`
updateNotifyButton();

socket.start({
  onFrame: handleFrame,
  onStatus: handleStatus,
  onTrouble: handleTrouble,
  onRename: renameRoom,
});
input.focus();
