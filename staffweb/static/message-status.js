// sigill staff web: a message's page refreshes its statuses and timelines
// while it is in view, every 20 seconds for five minutes (so that an
// unattended page does not keep its session alive past the idle timeout,
// nor fill the audit trail, where each look is a record).
// The page works without it: its Refresh link does the same by hand.
(function () {
  'use strict';
  var every = 20000, left = 15;
  function update(section, fresh) {
    var status = section.querySelector('.status'), newStatus = fresh.querySelector('.status');
    if (status && newStatus && status.textContent !== newStatus.textContent) {
      // The same element, so that its aria-live announces the change.
      status.textContent = newStatus.textContent;
      status.setAttribute('data-status', newStatus.getAttribute('data-status'));
    }
    var timeline = section.querySelector('.timeline'), newTimeline = fresh.querySelector('.timeline');
    if (timeline && newTimeline && timeline.innerHTML !== newTimeline.innerHTML) {
      timeline.replaceChildren.apply(timeline, Array.prototype.map.call(newTimeline.childNodes, function (n) {
        return document.importNode(n, true);
      }));
    }
  }
  function refresh() {
    if (left-- <= 0) {
      return;
    }
    if (document.visibilityState !== 'visible') {
      setTimeout(refresh, every);
      return;
    }
    fetch(location.pathname, {credentials: 'same-origin', redirect: 'error'})
      .then(function (r) {
        if (!r.ok) {
          throw new Error('status ' + r.status);
        }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        document.querySelectorAll('section.recipient').forEach(function (section) {
          var fresh = doc.getElementById(section.id);
          if (fresh) {
            update(section, fresh);
          }
        });
        setTimeout(refresh, every);
      })
      .catch(function () {}); // signed out, or the server gone: the page stays as it is
  }
  setTimeout(refresh, every);
})();
