// The API tokens page: copy buttons for the new token and the lines that use it. Without
// JavaScript (or without clipboard access, as on plain HTTP) the buttons stay hidden and the
// text is selected and copied by hand.
(function () {
  "use strict";

  if (!navigator.clipboard || !window.isSecureContext) return;
  var status = document.querySelector("[data-copy-status]");
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var label = button.textContent;
    var source = document.getElementById(button.dataset.copy);
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
        if (status) status.textContent = label.replace(/^Copy/, "Copied") + ".";
        setTimeout(function () { button.textContent = label; }, 2000);
      }, function () {
        if (status) status.textContent = "Could not copy: select the text and copy it.";
      });
    });
  });
})();
