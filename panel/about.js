/* about.js: the daemon's version, discreetly at the foot of Settings: the
 * status's version, the same as massaged -V, /metrics and the package
 * (docs/api.md). Set only when it changes; after an upgrade the daemon's
 * restart brings the new one. Its words come from panel/i18n
 * (settings.version). */
(function () {
  const P = window.massagedPanel;
  if (!P) return;
  const { t } = P;
  const line = document.getElementById('about-version');

  function render() {
    const st = P.status();
    const v = st && typeof st.version === 'string' ? st.version : '';
    const s = v ? t('settings.version', { version: v }) : '';
    if (line.textContent !== s) line.textContent = s;
    line.hidden = !v;
  }
  document.getElementById('settings-btn').addEventListener('click', render);
  setInterval(render, 1000);
})();
