// theme.js — puts your theme on <html> before the page is first painted.
//
// A classic script, not a module, loaded in <head> without `defer`: the
// browser runs it before it draws anything, so a light-theme user never sees
// a flash of dark (module scripts run only after the document is parsed).
// The Content-Security-Policy forbids inline scripts, hence this tiny file.
//
// It reads the same key as prefs.js ('natter.theme', JSON) and knows the
// same three values: 'dark' (the default), 'light' and 'system' (app.css
// follows prefers-color-scheme for that one). With no script at all there
// is no data-theme, and app.css draws the dark theme.
(function () {
  var theme = 'dark';
  try {
    var stored = JSON.parse(localStorage.getItem('natter.theme'));
    if (stored === 'light' || stored === 'system') theme = stored;
  } catch (e) {
    // Storage disabled or a damaged value: the default it is.
  }
  document.documentElement.setAttribute('data-theme', theme);
})();
