// directory.js — "Browse rooms": the server's directory of public rooms
// (`list_rooms`, answered by `rooms`), fifty at a time with "Load more",
// each with its topic and how many people are in it, and a Join button.
// The operator may switch the directory off (`off: true`): then it says so.

import { $ } from './page.js';
import { answered, ask } from './requests.js';
import { switchRoom } from './rooms.js';
import { setDrawer } from './drawer.js';

const dialog = $('browse-dialog');
let opener = null;
let next = null; // the `after` for "Load more", or null on the last page

function load(after) {
  $('browse-status').textContent = 'Loading…';
  $('browse-more').hidden = true;
  ask({ type: 'list_rooms', after }, (why) => { $('browse-status').textContent = why; });
}

export function openDirectory(from) {
  opener = from ?? null;
  $('browse-list').replaceChildren();
  if (!dialog.open) dialog.showModal();
  $('browse-close').focus();
  load(null);
}

/** One room of the directory: name, topic, members, and Join. */
function roomItem(info) {
  const li = document.createElement('li');
  li.className = 'browse-item';
  const name = document.createElement('span');
  name.className = 'browse-name';
  name.dir = 'auto';
  name.textContent = `#${info.name}`;
  const count = document.createElement('span');
  count.className = 'muted small';
  count.textContent = info.members === 1 ? '1 member' : `${info.members ?? 0} members`;
  const join = document.createElement('button');
  join.type = 'button';
  join.textContent = 'Join';
  join.setAttribute('aria-label', `Join #${info.name}`);
  join.addEventListener('click', () => {
    dialog.close();
    switchRoom(info.name);
    setDrawer(false);
  });
  li.append(name, count);
  if (info.topic) {
    const topic = document.createElement('span');
    topic.className = 'browse-topic';
    topic.dir = 'auto';
    topic.textContent = info.topic;
    li.append(topic);
  }
  li.append(join);
  return li;
}

/** `rooms`: a page of the directory (or the word that it is off). */
export function handleRooms(frame) {
  answered(undefined);
  if (!dialog.open) return;
  const status = $('browse-status');
  if (frame.off) {
    status.textContent = 'The room directory is off on this server: join a room by its name, or by a link someone sends you.';
    $('browse-more').hidden = true;
    return;
  }
  const rooms = frame.rooms ?? [];
  $('browse-list').append(...rooms.map(roomItem));
  next = frame.next ?? null;
  $('browse-more').hidden = next === null;
  const shown = $('browse-list').children.length;
  status.textContent = shown === 0
    ? 'No public rooms yet. A room’s owner can list it in the directory, in its room settings.'
    : `${shown} public room${shown === 1 ? '' : 's'}${next === null ? '' : ' so far'}.`;
}

export function wireDirectory() {
  $('browse-open').addEventListener('click', (event) => openDirectory(event.currentTarget));
  $('browse-close').addEventListener('click', () => dialog.close());
  $('browse-more').addEventListener('click', () => load(next));
  dialog.addEventListener('close', () => {
    opener?.focus();
    opener = null;
  });
}
