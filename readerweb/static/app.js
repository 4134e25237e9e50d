// sigill reader page. The page works without this script (forms and a 2 s
// refresh); with it, BankID starts through the JSON API, the QR code moves
// every second and the page follows the order without reloading.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const flow = $('flow');
  if (!flow) return;
  const base = flow.dataset.base;
  const q = '?lang=' + encodeURIComponent(document.documentElement.lang);
  const json = { Accept: 'application/json' };
  let qrMode = flow.dataset.qr === '1';
  let timer = 0;
  let busy = false;

  const say = (el, text) => {
    if (text && el.textContent !== text) el.textContent = text;
  };

  const drawQR = async () => {
    const r = await fetch(base + '/qr.svg', { cache: 'no-store' });
    if (!r.ok) return;
    const svg = new DOMParser().parseFromString(await r.text(), 'image/svg+xml').documentElement;
    if (svg.nodeName === 'svg') $('qr').replaceChildren(document.importNode(svg, true));
  };

  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      const r = await fetch(base + '/auth' + q, { headers: json, cache: 'no-store' });
      const j = await r.json();
      if (j.status === 'pending') {
        say($('status'), j.message);
        if (qrMode) await drawQR();
      } else {
        // complete, failed, denied or gone: the server draws that page.
        clearInterval(timer);
        location.replace(base + q);
      }
    } catch (e) {
      // A dropped request: the next second tries again.
    } finally {
      busy = false;
    }
  };

  const follow = () => {
    $('start').hidden = true;
    $('notice').hidden = true;
    $('pending').hidden = false;
    $('pending-h').focus();
    clearInterval(timer);
    timer = setInterval(poll, 1000);
    poll();
  };

  for (const form of document.querySelectorAll('form[data-start]')) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const same = form.elements.device.value === 'same';
      let r, j;
      try {
        r = await fetch(form.action, { method: 'POST', headers: json, body: new URLSearchParams(new FormData(form)) });
        j = await r.json();
      } catch (e) {
        form.submit();
        return;
      }
      if (!r.ok) {
        say($('notice'), j.message);
        $('notice').hidden = false;
        return;
      }
      qrMode = !same;
      $('qr').hidden = same;
      $('qr-help').hidden = same;
      const launch = $('launch');
      launch.hidden = !same;
      if (same) {
        launch.href = flow.dataset.launch + '?autostarttoken=' + encodeURIComponent(j.autoStartToken) + '&redirect=null';
        follow();
        // Only this click starts the app; a reloaded page shows the link.
        location.href = launch.href;
      } else {
        follow();
      }
    });
  }

  if (flow.dataset.state === 'pending') timer = setInterval(poll, 1000);
})();
