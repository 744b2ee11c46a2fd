/* The collapsible navigation on phones: the menu button opens and closes the links, sign-in and language. */
(function () {
  "use strict";
  var button = document.querySelector(".gm-nav-toggle");
  var menu = document.getElementById("gm-nav");
  if (!button || !menu) { return; }

  function setOpen(open) {
    menu.classList.toggle("show", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
    document.body.classList.toggle("gm-nav-open", open);
  }

  button.addEventListener("click", function (e) {
    e.stopPropagation();
    setOpen(!menu.classList.contains("show"));
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && menu.classList.contains("show")) { setOpen(false); button.focus(); }
  });
  document.addEventListener("click", function (e) {
    if (menu.classList.contains("show") && !menu.contains(e.target)) { setOpen(false); }
  });
  window.addEventListener("resize", function () {
    if (menu.classList.contains("show") && getComputedStyle(button).display === "none") { setOpen(false); }
  });
}());

/* Map controls on phones: the layer switcher starts folded behind its button and each legend folds to its title. */
(function () {
  "use strict";
  var phone = window.matchMedia("(max-width: 767.98px)");
  var LEGENDS = ".gm-legend, .gm-cov-legend, .gm-rb-legend";

  function fold() {
    if (!phone.matches) { return; }
    document.querySelectorAll(".leaflet-control-layers").forEach(function (c) {
      if (c.getAttribute("data-gm-phone")) { return; }
      c.setAttribute("data-gm-phone", "1");
      c.classList.remove("leaflet-control-layers-expanded");
    });
    document.querySelectorAll(LEGENDS).forEach(function (c) {
      if (c.getAttribute("data-gm-phone")) { return; }
      c.setAttribute("data-gm-phone", "1");
      c.classList.add("gm-folded");
    });
  }

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) { return; }
    var toggle = t.closest(".leaflet-control-layers-toggle");
    if (toggle && phone.matches) {
      e.preventDefault();
      toggle.closest(".leaflet-control-layers").classList.toggle("leaflet-control-layers-expanded");
      return;
    }
    var legend = t.closest(LEGENDS);
    if (legend && phone.matches && !t.closest("select, input, a, button")) {
      legend.classList.toggle("gm-folded");
      return;
    }
    if (phone.matches && !t.closest(".leaflet-control-layers")) {
      document.querySelectorAll(".leaflet-control-layers[data-gm-phone]").forEach(function (c) {
        c.classList.remove("leaflet-control-layers-expanded");
      });
    }
  }, true);  /* capture: Leaflet's controls stop clicks from bubbling */

  fold();
  if (window.MutationObserver) {
    var pending = false;
    new MutationObserver(function () {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; fold(); });
    }).observe(document.body, { childList: true, subtree: true });
  }
}());

/* Drawers on phones: a page's side panel slides up over its map; picking something to show on the map folds it. */
(function () {
  "use strict";
  function setOpen(page, open) {
    page.classList.toggle("gm-drawer-open", open);
    page.querySelectorAll(".gm-drawer-toggle").forEach(function (b) { b.setAttribute("aria-expanded", open ? "true" : "false"); });
  }
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) { return; }
    var page = t.closest(".gm-drawer-page");
    if (!page) { return; }
    if (t.closest(".gm-drawer-toggle")) {
      var opening = !page.classList.contains("gm-drawer-open"), drawer0 = page.querySelector(".gm-drawer");
      setOpen(page, opening);
      /* keep what the map showed in the strip left above the panel: its script pans by detail.dy pixels */
      var dy = opening && drawer0 ? Math.max(0, drawer0.offsetHeight - 46) / 2 : -Number(page.dataset.gmDrawerDy || 0);
      page.dataset.gmDrawerDy = opening ? String(dy) : "0";
      if (dy) { page.dispatchEvent(new CustomEvent("gm-drawer-move", { bubbles: true, detail: { dy: dy } })); }
      return;
    }
    var drawer = t.closest(".gm-drawer");
    var shows = drawer && drawer.getAttribute("data-gm-drawer-shows");
    if (shows && t.closest(shows) && window.matchMedia("(max-width: 767.98px)").matches) {
      setOpen(page, false);  /* the page has just fitted the map to the pick, for the whole map: no pan back */
      page.dataset.gmDrawerDy = "0";
    }
  });
}());
