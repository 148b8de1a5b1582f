// Every page: the browser's time zone for the server, the running timer (in the header and in
// the tab's title), and after a refused form, the eye taken to its first error.
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
  function elapsed(el) {
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(el.dataset.timerStart)) / 1000));
    return Math.floor(seconds / 3600) + ":" + pad(Math.floor(seconds / 60) % 60) + ":" + pad(seconds % 60);
  }
  var timers = document.querySelectorAll("[data-timer-start]");
  var titled = document.querySelector("[data-timer-title]");
  var pageTitle = document.title;
  function tick() {
    timers.forEach(function (el) { el.textContent = elapsed(el); });
    if (titled) { document.title = "▶ " + elapsed(titled) + " " + titled.dataset.timerTitle + " · " + pageTitle; }
  }
  if (timers.length) {
    tick();
    setInterval(tick, 1000);
  }

  // After a refused form: the first invalid field (or the form's alert), in view and focused.
  var invalid = document.querySelector("[aria-invalid=true]");
  var target = invalid || document.querySelector("main .error[role=alert]");
  if (target) {
    if (!invalid) { target.setAttribute("tabindex", "-1"); }
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }
})();
