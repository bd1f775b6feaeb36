// tryon dashboard: the little the pages need beyond htmx. Drop zones for uploads, confirmations, copy
// buttons, the outfit builder's summary, and the previews gallery's selection and keyboard shortcuts.
// Every handler is delegated from the document, so content that htmx swaps in works without set-up.
(function () {
  "use strict";

  // --- drop zones: a file dropped on the zone becomes the file of its input ---------------------------

  function zoneOf(event) {
    return event.target instanceof Element ? event.target.closest("[data-dropzone]") : null;
  }

  function showChosenFile(input) {
    var zone = input.closest("[data-dropzone]");
    if (!zone) return;
    var file = input.files && input.files[0];
    var name = zone.querySelector("[data-dropzone-file]");
    var preview = zone.querySelector("[data-dropzone-preview]");
    if (name) name.textContent = file ? "Chosen: " + file.name + " (" + Math.ceil(file.size / 1024) + " KB)" : "";
    if (!preview) return;
    if (preview.src) URL.revokeObjectURL(preview.src);
    if (file && /^image\//.test(file.type)) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    } else {
      preview.removeAttribute("src");
      preview.hidden = true;
    }
  }

  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var zone = zoneOf(event);
      event.preventDefault(); // a file dropped beside a zone must not replace the page
      if (zone) {
        zone.classList.add("dragging");
        event.dataTransfer.dropEffect = "copy";
      } else if (event.dataTransfer) {
        event.dataTransfer.dropEffect = "none";
      }
    });
  });

  ["dragleave", "dragend"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var zone = zoneOf(event);
      if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
    });
  });

  document.addEventListener("drop", function (event) {
    event.preventDefault();
    var zone = zoneOf(event);
    if (!zone) return;
    zone.classList.remove("dragging");
    var input = zone.querySelector("input[type=file]");
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!input || !files || !files.length) return;
    var one = new DataTransfer(); // the inputs take one file
    one.items.add(files[0]);
    input.files = one.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-dropzone] input[type=file]")) showChosenFile(target);
    if (target.matches && target.matches("[data-select]")) updateSelection();
    if (target.closest && target.closest("[data-outfit-builder]")) updateOutfitSummary(target.closest("form"));
  });

  // --- confirmations and copy buttons ----------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
    } else {
      field.select();
      if (document.execCommand("copy")) done();
    }
  });

  // --- outfit builder: what is picked, in words ------------------------------------------------------

  function updateOutfitSummary(form) {
    if (!form) return;
    var summary = form.querySelector("[data-outfit-summary]");
    if (!summary) return;
    var picked = Array.prototype.map.call(form.querySelectorAll("input[name=garment_ids]:checked"), function (box) {
      return box.getAttribute("data-label");
    });
    summary.textContent = picked.length ? picked.length + " picked: " + picked.join(", ") : "Pick one or more garments.";
  }

  // --- previews gallery: selection, keyboard shortcuts, state kept across refreshes ------------------------

  function cards() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-preview]"));
  }

  function selectedBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-select]:checked"));
  }

  function updateSelection() {
    cards().forEach(function (card) {
      var box = card.querySelector("[data-select]");
      card.classList.toggle("selected", !!(box && box.checked));
    });
    var count = document.querySelector("[data-selected-count]");
    if (count) {
      var n = selectedBoxes().length;
      count.textContent = n ? n + " selected" : "None selected";
    }
  }

  function focusedCard() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("[data-preview]") : null;
  }

  function move(step) {
    var all = cards();
    if (!all.length) return;
    var index = all.indexOf(focusedCard());
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    all[next].focus();
    all[next].scrollIntoView({ block: "nearest" });
  }

  function toggle(card) {
    var box = card && card.querySelector("[data-select]");
    if (!box) return;
    box.checked = !box.checked;
    updateSelection();
  }

  function approve() {
    if (selectedBoxes().length) {
      var bulk = document.querySelector("[data-bulk-approve]");
      if (bulk) bulk.click();
      return;
    }
    var card = focusedCard();
    var button = card && card.querySelector("[data-approve] button");
    if (button) button.click();
  }

  function startReject() {
    var card = focusedCard();
    if (!selectedBoxes().length && card) toggle(card);
    var reason = document.querySelector("[data-reason]");
    if (reason) reason.focus();
  }

  function typing(target) {
    return target.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName);
  }

  document.addEventListener("keydown", function (event) {
    if (!document.querySelector("[data-gallery]")) return;
    if (event.target.matches && event.target.matches("[data-reason]") && event.key === "Enter") {
      event.preventDefault(); // Enter in the reason field rejects the selection
      var reject = document.querySelector("[data-bulk-reject]");
      if (reject) reject.click();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var card = focusedCard();
    switch (event.key) {
      case "j": case "ArrowDown": if (event.key === "j" || card) { move(1); event.preventDefault(); } break;
      case "k": case "ArrowUp": if (event.key === "k" || card) { move(-1); event.preventDefault(); } break;
      case "x": case " ": if (card) { toggle(card); event.preventDefault(); } break;
      case "a": approve(); event.preventDefault(); break;
      case "r": startReject(); event.preventDefault(); break;
      case "Enter":
        if (card && event.target === card) {
          var link = card.querySelector("a[href]");
          if (link) link.click();
        }
        break;
    }
  });

  // The catalog's tiles refresh every 2 s while something is annotating. A refresh replaces them, and
  // would close a fix form someone has opened (with the file they chose): skip it while one is open.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var region = event.detail.elt;
    if (region && region.hasAttribute("data-live-tiles") && region.querySelector("details.fix[open]")) {
      event.preventDefault();
    }
  });

  // A refresh of the gallery (polling, filters, a decision) replaces its cards: keep the focus, and keep
  // the selection unless the refresh is the answer to a decision on it.
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "gallery") return;
    var card = focusedCard();
    var isGet = event.detail.requestConfig && event.detail.requestConfig.verb === "get";
    kept = {
      focus: card ? card.getAttribute("data-preview") : null,
      selected: isGet ? selectedBoxes().map(function (box) { return box.value; }) : [],
    };
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!kept) return;
    kept.selected.forEach(function (id) {
      var box = document.querySelector('[data-select][value="' + id + '"]');
      if (box) box.checked = true;
    });
    if (kept.focus) {
      var card = document.querySelector('[data-preview="' + kept.focus + '"]');
      if (card) card.focus({ preventScroll: true });
    }
    kept = null;
    updateSelection();
  });

  document.addEventListener("DOMContentLoaded", function () {
    // On a phone the upload forms start folded, so that the catalog itself comes first.
    if (window.matchMedia("(max-width: 640px)").matches) {
      Array.prototype.forEach.call(document.querySelectorAll("details[data-fold-on-phone]"), function (details) {
        details.open = false;
      });
    }
    updateSelection();
    Array.prototype.forEach.call(document.querySelectorAll("[data-outfit-builder]"), updateOutfitSummary);
  });
})();
