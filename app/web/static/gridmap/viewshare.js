// Print and share the home map's view: a control with PNG, PDF (drawn by /export/view.*) and a link that
// reopens the same view (?view=z/lat/lon&layers=…&attr=…&sel=kind:code), in the GeoJSON and the tiled modes.
(function () {
  "use strict";
  var gm = (window.gridmap = window.gridmap || {});
  var box = document.getElementById("gm-viewshare");
  if (!box || !gm.map) return;
  var S = JSON.parse(box.getAttribute("data-strings"));
  var map = gm.map, params = new URLSearchParams(window.location.search);
  var MAX_SIDE = 2400;
  gm.selection = null;

  // --- the opening view: set before the tiles start, so the tiled map fetches only what is shown -------------
  var asked = (params.get("view") || "").split("/").map(Number);
  function restoreView() {
    if (asked.length === 3 && asked.every(isFinite)) map.setView([asked[1], asked[2]], asked[0], { animate: false });
  }
  restoreView();

  // --- what is on screen ------------------------------------------------------------------------------------
  function overlayKey(layer) {
    if (layer === gm.divisionGroup || layer === gm.divisionTiles) return "divisions";
    if (layer === gm.committeeGroup || layer === gm.committeeTiles) return "committees";
    if (layer === gm.gridGroup || layer === gm.gridTiles) return "grids";
    if (gm.roadTiles && layer.hasLayer && layer.hasLayer(gm.roadTiles)) return "roads";
    var cats = gm.facilityGroups || {};
    for (var k in cats) if (cats[k] === layer) return "facilities:" + k;
    return null;
  }

  function overlays() {
    return ((gm.layerControl && gm.layerControl._layers) || []).filter(function (o) { return o.overlay; });
  }

  function layersParam() {
    var on = [], cats = [], all = true;
    overlays().forEach(function (o) {
      var key = overlayKey(o.layer);
      if (!key) return;
      var shown = map.hasLayer(o.layer);
      if (key.indexOf("facilities:") === 0) {
        if (shown) cats.push(key.slice(11)); else all = false;
      } else if (shown) on.push(key);
    });
    if (cats.length) on.push(all ? "facilities" : "facilities:" + cats.join(":"));
    return on.join(",");
  }

  function state() {
    var c = map.getCenter(), z = map.getZoom(), p = new URLSearchParams();
    p.set("view", z + "/" + c.lat.toFixed(5) + "/" + c.lng.toFixed(5));
    p.set("layers", layersParam());
    p.set("attr", gm.attr || "population");
    if (gm.selection) p.set("sel", gm.selection);
    return p;
  }

  function shareUrl() {
    var p = state(), lang = params.get("lang");
    if (lang) p.set("lang", lang);
    var query = p.toString().replace(/%2F/g, "/").replace(/%3A/g, ":").replace(/%2C/g, ",");  // readable links
    return window.location.origin + window.location.pathname + "?" + query;
  }

  function exportUrl(fmt) {
    var p = state(), b = map.getBounds(), size = map.getSize();
    p.delete("view");
    p.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(","));
    p.set("size", Math.min(size.x, MAX_SIDE) + "x" + Math.min(size.y, MAX_SIDE));
    p.set("lang", document.documentElement.lang && document.documentElement.lang.indexOf("en") === 0 ? "en" : "zh");
    var datum = /\/(gcj02)\//.exec((gm.cfg && gm.cfg.live && gm.cfg.live.tileUrl) || "");
    if (datum) p.set("datum", datum[1]);  // the map is drawn on AMap's shifted coordinates
    return "/export/view." + fmt + "?" + p.toString();
  }

  // --- the selection: whatever popup is open --------------------------------------------------------------
  function selectionOf(popup) {
    var src = popup._source;
    if (src && src.gridCode) return "grid:" + src.gridCode;
    if (src && gm.facilityById) {
      for (var id in gm.facilityById) if (gm.facilityById[id].marker === src) return "facility:" + id;
    }
    var el = popup.getElement && popup.getElement(), cls = (popup.options.className || "");
    var m = /gm-search-popup-(committee|division|facility)/.exec(cls), code = el && el.querySelector(".gm-code");
    if (m && code) return m[1] + ":" + code.textContent.trim();
    if (cls.indexOf("gm-grid-popup") >= 0 && popup._gmGrid) return "grid:" + popup._gmGrid;
    return null;
  }

  if (gm.live && gm.live.openGrid) {  // the tiled grids' popups carry no layer: remember the code they opened
    var openGrid = gm.live.openGrid;
    gm.live.openGrid = function (m, code, latlng) {
      gm.selection = "grid:" + code;
      return openGrid.apply(this, arguments);
    };
  }
  map.on("popupopen", function (e) {
    var sel = selectionOf(e.popup);
    if (sel) gm.selection = sel;
  });
  map.on("popupclose", function () {
    setTimeout(function () { if (!map._popup || !map._popup.isOpen()) gm.selection = null; }, 0);
  });

  // --- restoring layers and the selection once the data has arrived --------------------------------------
  function restoreLayers(spec) {
    var want = {}, cats = null;
    spec.split(",").forEach(function (item) {
      var parts = item.split(":");
      want[parts[0]] = true;
      if (parts[0] === "facilities" && parts.length > 1) cats = parts.slice(1);
    });
    overlays().forEach(function (o) {
      var key = overlayKey(o.layer);
      if (!key) return;
      var show = key.indexOf("facilities:") === 0
        ? !!want.facilities && (!cats || cats.indexOf(key.slice(11)) >= 0) : !!want[key];
      if (show && !map.hasLayer(o.layer)) map.addLayer(o.layer);
      if (!show && map.hasLayer(o.layer)) map.removeLayer(o.layer);
    });
  }

  function restoreSelection(sel) {
    var i = sel.indexOf(":"), kind = sel.slice(0, i), code = sel.slice(i + 1);
    if (!code) return;
    if (kind === "facility" && gm.facilityById && gm.facilityById[code]) {
      var hit = gm.facilityById[code];
      if (!map.hasLayer(hit.group)) map.addLayer(hit.group);
      hit.group.zoomToShowLayer(hit.marker, function () { hit.marker.openPopup(); });
      return;
    }
    if (kind === "grid" && gm.gridLayerByCode && gm.gridLayerByCode[code]) {
      gm.live.openGrid(map, code, gm.gridLayerByCode[code].getBounds().getCenter());
      return;
    }
    if (kind === "grid" && gm.live && gm.cfg.live) {  // tiled: where the grid is comes from search
      fetch(gm.cfg.live.searchUrl + "&limit=5&q=" + encodeURIComponent(code), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          var r = (body.results || []).filter(function (x) { return x.kind === "grid" && String(x.code) === code; })[0];
          var at = r && r.lat !== undefined ? L.latLng(r.lat, r.lon) : map.getCenter();
          gm.live.openGrid(map, code, at);
        });
      return;
    }
    gm.selection = sel;
  }

  function restore() {
    if (map._animatingZoom) {  // the minimap, added with the data, zooms the map to its own view: wait, then undo
      map.once("zoomend", function () { setTimeout(restore, 0); });
      return;
    }
    restoreView();
    if (params.get("layers") !== null) restoreLayers(params.get("layers"));
    if (params.get("sel")) restoreSelection(params.get("sel"));
  }
  if (gm.ready) restore(); else document.addEventListener("gridmap:ready", restore, { once: true });

  // --- the control --------------------------------------------------------------------------------------
  function copy(text) {
    var done = function () { flash(S.copied); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { window.prompt(S.copyFailed, text); });
    } else {
      window.prompt(S.copyFailed, text);
    }
  }

  var note;
  function flash(text) {
    note.textContent = text;
    note.hidden = false;
    setTimeout(function () { note.hidden = true; }, 2000);
  }

  var control = L.control({ position: "topleft" });
  control.onAdd = function () {
    var div = L.DomUtil.create("div", "leaflet-bar gm-viewshare");
    div.innerHTML =
      '<a href="#" role="button" class="gm-viewshare-toggle" title="' + S.control + '" aria-label="' + S.control +
      '"><i class="fa-solid fa-share-nodes"></i></a>' +
      '<div class="gm-viewshare-menu" hidden>' +
      '<a href="#" data-act="png" class="gm-viewshare-png" download><i class="fa-solid fa-image"></i> ' + S.png + "</a>" +
      '<a href="#" data-act="pdf" class="gm-viewshare-pdf" download><i class="fa-solid fa-file-pdf"></i> ' + S.pdf + "</a>" +
      '<a href="#" data-act="link" class="gm-viewshare-link"><i class="fa-solid fa-link"></i> ' + S.link + "</a>" +
      '<div class="gm-viewshare-note" role="status" hidden></div></div>';
    L.DomEvent.disableClickPropagation(div);
    var menu = div.querySelector(".gm-viewshare-menu");
    note = div.querySelector(".gm-viewshare-note");
    div.querySelector(".gm-viewshare-toggle").addEventListener("click", function (e) {
      e.preventDefault();
      menu.hidden = !menu.hidden;
    });
    menu.addEventListener("click", function (e) {
      var a = e.target.closest("a[data-act]");
      if (!a) return;
      var act = a.getAttribute("data-act");
      if (act === "link") {
        e.preventDefault();
        var url = shareUrl();
        window.history.replaceState(null, "", url);
        copy(url);
        return;
      }
      a.href = exportUrl(act);  // the browser follows the fresh href: a download of the current view
      flash(S.working);
    });
    return div;
  };
  control.addTo(map);
  gm.viewshare = { state: state, shareUrl: shareUrl, exportUrl: exportUrl };
})();
