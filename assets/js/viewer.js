// viewer.js — an image of a message, large: a modal <dialog> opened by a
// click (or Enter) on the image in the list (attachments.js draws it as a
// button). The browser keeps the keyboard inside while it is open and Esc
// closes it; so do its × and a click anywhere outside the picture. The
// focus goes back to the image it was opened from.

import { $, scroller } from './page.js';

const dialog = $('viewer');
const image = $('viewer-image');
let opener = null;

/** Open the viewer on one image: { url, name, width, height }. */
export function openViewer({ url, name, width, height }, from) {
  opener = from ?? null;
  image.src = url;
  image.alt = name || 'image';
  // The real size, so the dialog knows the shape before the bytes arrive.
  if (width && height) {
    image.width = width;
    image.height = height;
  } else {
    image.removeAttribute('width');
    image.removeAttribute('height');
  }
  $('viewer-name').textContent = name || 'image';
  const download = $('viewer-download');
  download.href = url;
  download.download = name || 'image';
  dialog.showModal();
  $('viewer-close').focus();
}

export function closeViewer() {
  if (dialog.open) dialog.close();
}

export function wireViewer() {
  scroller.addEventListener('click', (event) => {
    const button = event.target.closest('.attachment-image');
    if (!button || !scroller.contains(button)) return;
    event.preventDefault();
    const { viewUrl, viewName, viewWidth, viewHeight } = button.dataset;
    openViewer({ url: viewUrl, name: viewName, width: Number(viewWidth) || 0, height: Number(viewHeight) || 0 }, button);
  });
  $('viewer-close').addEventListener('click', closeViewer);
  // A click on the dialog itself, not on its picture or its bar, is a click
  // outside: the dialog fills the screen and the rest of it is the dimmed
  // background.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog || event.target.classList.contains('viewer-stage')) closeViewer();
  });
  dialog.addEventListener('close', () => {
    image.removeAttribute('src');
    if (opener?.isConnected) opener.focus();
    opener = null;
  });
}
