// Typed input is never lost without a question: leaving the page, or sending another of its
// forms, while a form holds changes not yet sent asks first. A form the server sent back with
// errors holds input not yet saved, so it counts as changed. Without JavaScript every form
// works as it is (and completing a task saves the tools ticked with it). Loaded on every page.
(function () {
  "use strict";

  function changed(el) {
    if (el.disabled || !el.name) return false;
    if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") {
      var options = Array.prototype.slice.call(el.options);
      var chosen = options.some(function (o) { return o.defaultSelected; });
      return options.some(function (o, i) {
        return o.selected !== (chosen ? o.defaultSelected : i === 0 && !el.multiple);
      });
    }
    if (el.tagName === "TEXTAREA" || el.tagName === "INPUT") {
      return el.type !== "hidden" && el.type !== "submit" && el.value !== el.defaultValue;
    }
    return false;
  }

  function firstChange(form) {
    return Array.prototype.find.call(form.elements, changed) || null;
  }

  function isDirty(form) {
    return firstChange(form) !== null || form.querySelector('[aria-invalid="true"], .error') !== null;
  }

  function nameOf(form) {
    var box = form.closest("section") || form;
    var heading = box.querySelector("h2, summary");
    return heading ? heading.textContent.trim().replace(/\s+/g, " ") : "a form";
  }

  function dirtyForms(except) {
    return Array.prototype.filter.call(document.forms, function (form) {
      return form !== except && form.method.toLowerCase() === "post" && isDirty(form);
    });
  }

  var leaving = false;

  // Capturing, so that the question comes before htmx sends a boosted form.
  document.addEventListener("submit", function (event) {
    if (event.target.method.toLowerCase() === "dialog") return;
    var others = dirtyForms(event.target);
    if (others.length) {
      var names = others.map(function (f) { return "“" + nameOf(f) + "”"; }).join(", ");
      var go = window.confirm(
        "Your changes in " + names + " are not saved yet and will be lost. Send this form anyway?"
      );
      if (!go) {
        event.preventDefault();
        event.stopImmediatePropagation();
        var field = firstChange(others[0]) || others[0].querySelector("input, select, textarea");
        var details = field && field.closest("details");
        if (details) details.open = true;
        if (field) field.focus();
        return;
      }
    }
    leaving = true;
  }, true);

  window.addEventListener("pageshow", function () { leaving = false; });
  // A form htmx sent left the page where it was: its new forms are watched as before.
  document.addEventListener("htmx:afterRequest", function () { leaving = false; });

  window.addEventListener("beforeunload", function (event) {
    if (!leaving && dirtyForms(null).length) {
      event.preventDefault();
      event.returnValue = "";  // older browsers show their own question only with this set
    }
  });
})();
