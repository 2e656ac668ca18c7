/* store.js: the spa's shared store as the operator sees it (docs/store.md).
 * While the table has a store and cannot reach it, a notice above the
 * client picker says since when the client list is offline and what that
 * means; it is hidden without a store, while the store answers and before
 * the daemon has tried it. Its words are set only when they change (the
 * time, the language): the notice is a polite live region (role status),
 * heard once when it comes, not at every status the daemon sends.
 * While a session runs and its client's profile has been changed since it
 * started (here or at another table of the spa: the status's
 * profile_newer_revision), a second notice under the client's name says
 * so: the session keeps the limits it started with, the next one uses the
 * new revision. The same polite live region, set only when it changes.
 * Everything it says comes from panel/i18n (keys store.*). */
(function () {
  const P = window.massagedPanel;
  if (!P) return;
  const { t } = P;
  const $ = (id) => document.getElementById(id);
  const box = $('store-notice');
  const title = $('store-notice-title');
  const msg = $('store-notice-msg');
  const newer = $('newer-notice');
  const newerMsg = $('newer-notice-msg');

  function text(node, s) { if (node.textContent !== s) node.textContent = s; }

  /* The time as the panel writes times (the language's 24 or 12 hours);
   * with the date when it is not today. */
  function since(s) {
    const d = new Date(1000 * s);
    const lang = document.documentElement.lang || 'en';
    const today = d.toDateString() === new Date().toDateString();
    return new Intl.DateTimeFormat(lang, today ? { hour: '2-digit', minute: '2-digit' }
      : { dateStyle: 'short', timeStyle: 'short' }).format(d);
  }

  function renderOffline(st) {
    const s = st && st.store;
    if (!s || !s.configured || s.reachable || !(s.since > 0)) {
      box.hidden = true;
      return;
    }
    text(title, t('store.offline', { time: since(s.since) }));
    text(msg, t('store.offline_msg'));
    box.hidden = false;
  }

  /* The running session's profile has a newer revision. */
  function renderNewer(st) {
    const active = st && ['running', 'paused', 'stopping'].includes(st.state);
    const rev = active ? st.profile_newer_revision : null;
    if (!Number.isInteger(rev)) {
      newer.hidden = true;
      return;
    }
    text(newerMsg, t('store.newer', { rev }));
    newer.hidden = false;
  }

  function render() {
    const st = P.status();
    renderOffline(st);
    renderNewer(st);
  }
  setInterval(render, 500);
})();
