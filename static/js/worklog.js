// Researcher pages: a live timer display and the browser's time zone for the server.
(function () {
  "use strict";

  // The server shows times (and reads hand-entered ones) in this zone.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* an old browser: times stay in the server's zone */ }

  // The timer's start comes from the server, so it survives reloads and closed tabs.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function show(el) {
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(el.dataset.timerStart)) / 1000));
    el.textContent = Math.floor(seconds / 3600) + ":" + pad(Math.floor(seconds / 60) % 60) + ":" + pad(seconds % 60);
  }
  var timers = document.querySelectorAll("[data-timer-start]");
  if (timers.length) {
    timers.forEach(show);
    setInterval(function () { timers.forEach(show); }, 1000);
  }
})();
