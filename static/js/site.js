// Every page: the browser's time zone for the server, the running timer (in the header and in
// the tab's title), the eye taken to what changed after a form was sent, and the keyboard
// shortcuts. Forms marked hx-boost are sent by htmx without a full page load: the server
// answers with the whole page as it would without JavaScript, and htmx swaps its body in; what
// is set up here is set up again after each swap.
(function () {
  "use strict";

  // The server shows times (and reads hand-entered ones) in this zone.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* an old browser: times stay in the server's zone */ }

  // The timer's start comes from the server, so it survives reloads, closed tabs and swaps.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function elapsed(el) {
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(el.dataset.timerStart)) / 1000));
    return Math.floor(seconds / 3600) + ":" + pad(Math.floor(seconds / 60) % 60) + ":" + pad(seconds % 60);
  }
  var pageTitle = document.title;
  var shownTitle = null;
  function tick() {
    if (document.title !== shownTitle) { pageTitle = document.title; }  // a swap set a new one
    document.querySelectorAll("[data-timer-start]").forEach(function (el) { el.textContent = elapsed(el); });
    var titled = document.querySelector("[data-timer-title]");
    shownTitle = titled ? "▶ " + elapsed(titled) + " " + titled.dataset.timerTitle + " · " + pageTitle : pageTitle;
    document.title = shownTitle;
  }
  setInterval(tick, 1000);

  function focusOn(el) {
    if (!el) { return false; }
    if (!el.matches("a[href], button, input, select, textarea, [tabindex]")) { el.setAttribute("tabindex", "-1"); }
    el.scrollIntoView({ block: "center" });
    el.focus({ preventScroll: true });
    return true;
  }

  // After a refused form: the first invalid field (or the form's alert).
  function firstError() {
    return document.querySelector("[aria-invalid=true]") || document.querySelector("main .error[role=alert]");
  }

  function planTitle() { return document.querySelector("#plan-form [name=title]"); }

  function setUp(initial) {
    document.querySelectorAll(".js-only[hidden]").forEach(function (el) { el.hidden = false; });
    tick();
    if (initial) {
      // A fresh page: the error if a form was refused, else Today's plan form ready for typing.
      var title = planTitle();
      focusOn(firstError()) || (title && title.focus({ preventScroll: location.hash !== "#plan" }));
    } else if (!document.activeElement || document.activeElement === document.body) {
      // The control that was used went with the swap (htmx keeps the focus on a control with
      // the same id): the error, else what the server said, else the page's heading.
      focusOn(firstError()) || focusOn(document.querySelector("main .message")) || focusOn(document.querySelector("main h1"));
    }
  }
  setUp(true);
  document.addEventListener("htmx:afterSettle", function () { setUp(false); });

  // Keyboard shortcuts, listed on the "?" dialog; single keys can be turned off there (and are
  // never taken from a field being typed in).
  var STORE = "uplift-shortcuts";
  function singleKeysOn() {
    try { return window.localStorage.getItem(STORE) !== "off"; } catch (e) { return true; }
  }
  function dialog() { return document.getElementById("shortcuts"); }
  function openShortcuts() {
    var box = dialog();
    if (!box || box.open) { return; }
    box.querySelector("#shortcuts-on").checked = singleKeysOn();
    box.showModal();
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-opens=shortcuts]")) { openShortcuts(); }
  });
  document.addEventListener("change", function (event) {
    if (event.target.id === "shortcuts-on") {
      try { window.localStorage.setItem(STORE, event.target.checked ? "on" : "off"); } catch (e) { /* private mode */ }
    }
  });
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function visible(el) { return el && el.getClientRects().length > 0; }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.repeat) { return; }
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.closest && target.closest("#plan-form")) {
      event.preventDefault();
      // A click, not requestSubmit: it is the button's name and value that say "and start".
      target.closest("#plan-form").querySelector("[data-shortcut='ctrl+enter']").click();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(target) || !singleKeysOn()) { return; }
    if (dialog() && dialog().open) { return; }
    var key = event.key.toLowerCase();
    if (key === "?") {
      event.preventDefault();
      openShortcuts();
    } else if (key === "n" && dialog()) {
      event.preventDefault();
      if (planTitle()) { focusOn(planTitle()); } else { window.location.assign(dialog().dataset.home + "#plan"); }
    } else if (key === "s") {
      var button = Array.prototype.find.call(document.querySelectorAll("[data-shortcut=s]"), visible);
      if (button) {
        event.preventDefault();
        button.click();
      }
    }
  });
})();
