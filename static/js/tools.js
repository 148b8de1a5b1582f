// The task page's tool picker: a tool's minutes and mode are shown once its box is ticked, so
// the keyboard passes over the tools not used. Their values are still sent with the form (the
// server keeps only the ticked tools'). Loaded on every page. Without JavaScript every field is shown and works.
(function () {
  "use strict";

  function sync(row) {
    var box = row.querySelector('input[type="checkbox"]');
    if (!box) return;
    var minutes = row.querySelector('input[type="number"], input[type="text"]');
    var needed = box.checked || row.querySelector(".has-error") !== null || (minutes && minutes.value !== "");
    row.classList.toggle("tool-unticked", !needed);
  }

  function syncAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".tools .tool-row"), sync);
  }

  document.addEventListener("change", function (event) {
    var row = event.target.closest && event.target.closest(".tools .tool-row");
    if (row && event.target.type === "checkbox") sync(row);
  });
  window.addEventListener("pageshow", syncAll);
  document.addEventListener("htmx:afterSettle", syncAll);  // a page swapped in by htmx
  syncAll();
})();
