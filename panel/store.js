/* store.js: the spa's shared store as the operator sees it (docs/store.md).
 * While the table has a store and cannot reach it, a notice above the
 * client picker says since when the client list is offline and what that
 * means; it is hidden without a store, while the store answers and before
 * the daemon has tried it. Its words are set only when they change (the
 * time, the language): the notice is a polite live region (role status),
 * heard once when it comes, not at every status the daemon sends.
 * Everything it says comes from panel/i18n (keys store.*). */
(function () {
  const P = window.massagedPanel;
  if (!P) return;
  const { t } = P;
  const $ = (id) => document.getElementById(id);
  const box = $('store-notice');
  const title = $('store-notice-title');
  const msg = $('store-notice-msg');

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

  function render() {
    const st = P.status();
    const s = st && st.store;
    if (!s || !s.configured || s.reachable || !(s.since > 0)) {
      box.hidden = true;
      return;
    }
    text(title, t('store.offline', { time: since(s.since) }));
    text(msg, t('store.offline_msg'));
    box.hidden = false;
  }
  setInterval(render, 500);
})();
