// Every page: after a form comes back with errors, take the eye to the first one.
(function () {
  "use strict";
  var invalid = document.querySelector("[aria-invalid=true]");
  var alert = document.querySelector("main .error[role=alert]");
  var target = invalid || alert;
  if (!target) { return; }
  if (!invalid) { target.setAttribute("tabindex", "-1"); }
  target.scrollIntoView({ block: "center" });
  target.focus({ preventScroll: true });
})();
