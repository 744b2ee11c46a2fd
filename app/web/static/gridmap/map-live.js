/* gridmap home map, served pages only: polygons as vector tiles (Leaflet.VectorGrid), the city's own roads,
 * and one search box for grids, committees, divisions, facilities and addresses (/api/v1/search).
 * Tile properties and payload text are HTML-escaped on the server; search results are escaped here. */
(function () {
  "use strict";

  var gm = (window.gridmap = window.gridmap || {});
  var live = (gm.live = {});

  // Leaflet 1.8 dropped L.DomEvent.fakeStop, which VectorGrid 1.3's canvas renderer calls on a click
  if (window.L && L.DomEvent && !L.DomEvent.fakeStop) {
    L.DomEvent.fakeStop = function (e) { if (e) e._stopped = true; return true; };
  }
  // VectorGrid finishes a tile when its fetch ends, even after its layer left the map (a layer switched
  // off, a shared view restored); Leaflet then reads this._map._fadeAnimated of null and throws
  if (window.L && L.GridLayer && !L.GridLayer.prototype._gmGuarded) {
    var tileReady = L.GridLayer.prototype._tileReady;
    L.GridLayer.prototype._tileReady = function (coords, err, tile) {
      if (!this._map) return;
      return tileReady.call(this, coords, err, tile);
    };
    L.GridLayer.prototype._gmGuarded = true;
  }

  function esc(text) {
    return String(text === null || text === undefined ? "" : text).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }

  function tileLayer(layer, style, options) {
    var cfg = gm.cfg.live, styles = {};
    styles[layer] = style;
    // tiles are drawn tileSize (512) px across: the one at map zoom z is the XYZ tile of zoom z + zoomOffset
    // (VectorGrid 1.3 puts coords.z in the URL and ignores zoomOffset, so {tz} is filled in here)
    return L.vectorGrid.protobuf(cfg.tileUrl.replace("{layer}", layer).replace("{z}", "{tz}"), L.extend({
      rendererFactory: L.canvas.tile, vectorTileLayerStyles: styles, maxNativeZoom: cfg.maxNativeZoom,
      tileSize: cfg.tileSize, maxZoom: 19, interactive: false, fetchOptions: { credentials: "same-origin" },
      tz: function (data) { return data.z + cfg.zoomOffset; }
    }, options, { minZoom: Math.max(options && options.minZoom || 0, -cfg.zoomOffset) }));
  }

  // --- tiled polygons -----------------------------------------------------------------------------------

  function gridStyle(props) {
    var cls = (gm.data || gm.cfg.live).classes[gm.attr];
    return {
      fill: true, fillColor: cls.colors[gm.fn.classOf(props[gm.attr], cls.breaks)], fillOpacity: 0.72,
      color: "#51606f", weight: 0.7, opacity: 0.9
    };
  }

  var HOVER = { fill: true, fillOpacity: 0.72, color: "#1d3557", weight: 2.5, opacity: 1 };

  // Every layer comes in one tile per address (the server's "all" tile: grids, roads, divisions, committees,
  // bottom first), so a view costs one request, one decode and one canvas per tile instead of four. The layer
  // switcher's entries (gm.gridTiles, gm.committeeTiles, gm.divisionTiles, gm.roadTiles) are light stand-ins:
  // switching one on or off changes which layers the style draws and redraws the tiles.
  var shown = { grids: true, committees: true, divisions: true, roads: false }, drawn = null;

  // the bundle's protobuf reader (top-level functions of Leaflet.VectorGrid.bundled.min.js)
  var Pbf = window.Pbf, VectorTile = window["VectorTile$1"];

  var AllTiles = window.L && L.VectorGrid && L.VectorGrid.Protobuf.extend({
    // no fade-in: a fading tile has every canvas of the view recomposited on each frame for 200 ms, and the
    // previous zoom's tiles stay until it ends
    _tileReady: function (coords, err, tile) {
      var map = this._map;
      if (!map) return;
      var fade = map._fadeAnimated;
      map._fadeAnimated = false;
      try { L.VectorGrid.Protobuf.prototype._tileReady.call(this, coords, err, tile); }
      finally { map._fadeAnimated = fade; }
    },
    // as VectorGrid's own, but the body is read as an ArrayBuffer (not Blob + FileReader), the features of a
    // switched-off layer are not decoded, and each feature knows its layer (getFeatureId needs it)
    _getVectorTilePromise: function (coords) {
      var url = L.Util.template(this._url, L.extend({ s: this._getSubdomain(coords), x: coords.x, y: coords.y,
                                                      z: coords.z }, this.options));
      function tag(tile) {
        Object.keys(tile.layers).forEach(function (name) {
          var layer = tile.layers[name], feats = [];
          if (shown[name]) {
            for (var i = 0; i < layer.length; i++) {
              var f = layer.feature(i);
              f.geometry = f.loadGeometry();
              f.layer = name;
              feats.push(f);
            }
          }
          layer.features = feats;
        });
        return tile;
      }
      if (!Pbf || !VectorTile) {
        return L.VectorGrid.Protobuf.prototype._getVectorTilePromise.call(this, coords).then(function (tile) {
          Object.keys(tile.layers).forEach(function (name) {
            tile.layers[name].features.forEach(function (f) { f.layer = name; });
          });
          return tile;
        });
      }
      return fetch(url, this.options.fetchOptions).then(function (r) { return r.ok ? r.arrayBuffer() : null; })
        .then(function (buf) { return buf ? tag(new VectorTile(new Pbf(buf))) : { layers: {} }; });
    }
  });

  function refresh() {
    var all = gm.tiles, map = gm.map, key = JSON.stringify(shown), any = shown.grids || shown.committees ||
      shown.divisions || shown.roads;
    if (!all || !map) return;
    if (!any) { if (map.hasLayer(all)) map.removeLayer(all); drawn = null; return; }
    if (!map.hasLayer(all)) { drawn = key; all.addTo(map); return; }
    if (key !== drawn) { drawn = key; all.redraw(); }
  }

  var Part = window.L && L.Layer.extend({
    initialize: function (name, minZoom) { this.name = name; L.setOptions(this, { minZoom: minZoom }); },
    onAdd: function () { shown[this.name] = true; refresh(); },
    onRemove: function () { shown[this.name] = false; refresh(); },
    redraw: function () { if (gm.tiles && gm.tiles._map) gm.tiles.redraw(); return this; },
    setFeatureStyle: function (id, style) { gm.tiles.setFeatureStyle(id, style); return this; },
    resetFeatureStyle: function (id) { gm.tiles.resetFeatureStyle(id); return this; }
  });
  if (Part) {  // a stand-in loads while the tiles it draws on do (tests and benchmarks wait on _loading)
    Object.defineProperty(Part.prototype, "_loading", {
      get: function () { return !!(gm.tiles && gm.tiles._map && gm.tiles._loading); }
    });
  }

  function committeeStyle(p, zoom) {
    return zoom < gm.cfg.live.zooms.grids
      ? { fill: true, fillColor: "#cfd8e3", fillOpacity: 0.35, color: "#2b4a6f", weight: 1.2, interactive: false }
      : { fill: false, color: "#2b4a6f", weight: 1.6, interactive: false };
  }

  function divisionStyle(p, zoom) {
    return { fill: zoom < gm.cfg.live.zooms.committees, fillColor: "#cfd8e3", fillOpacity: 0.4, color: "#7a1f3d",
             weight: 3, dashArray: [8, 4], interactive: false };
  }

  function roadStyle(p, zoom) {
    var st = ROAD[p.kind] || ROAD.local, grow = zoom >= 15 ? 1.5 : 1;
    return L.extend({}, st, { weight: st.weight * grow, interactive: false });
  }

  function only(name, style) {
    return function (p, zoom) { return shown[name] ? style(p, zoom) : []; };
  }

  // the tile layer and its stand-ins, started as soon as the page runs (they need nothing from the payload)
  live.startTiles = function (map) {
    if (gm.gridTiles) return;
    var cfg = gm.cfg.live, z = cfg.zooms;
    shown.roads = !!cfg.roads;
    gm.tiles = new AllTiles(cfg.tileUrl.replace("{layer}", cfg.all || "all").replace("{z}", "{tz}"), {
      rendererFactory: L.canvas.tile, maxNativeZoom: cfg.maxNativeZoom, tileSize: cfg.tileSize, maxZoom: 19,
      minZoom: Math.max(0, -cfg.zoomOffset), pane: "grids", interactive: true,
      fetchOptions: { credentials: "same-origin" }, tz: function (data) { return data.z + cfg.zoomOffset; },
      vectorTileLayerStyles: { grids: only("grids", gridStyle), roads: only("roads", roadStyle),
                               committees: only("committees", committeeStyle),
                               divisions: only("divisions", divisionStyle) },
      getFeatureId: function (f) { return f.layer === "grids" ? f.properties.code : f.layer + ":" + f.properties.code; }
    });
    gm.gridTiles = new Part("grids", z.grids);
    gm.committeeTiles = new Part("committees", z.committees);
    gm.divisionTiles = new Part("divisions", z.divisions || 0);
    gm.roadTiles = new Part("roads", z.roads || 0);
    var tip = L.tooltip({ sticky: true, className: "gm-tooltip", direction: "top", offset: [0, -8] });
    gm.tiles.on("mouseover", function (e) {
      var p = e.layer.properties;
      gm.tiles.setFeatureStyle(p.code, L.extend({}, gridStyle(p), HOVER, { fillColor: gridStyle(p).fillColor }));
      tip.setContent(p.code + " " + p.name).setLatLng(e.latlng);
      map.openTooltip(tip);
      gm.gridTiles.fire("mouseover", e);
    });
    gm.tiles.on("mouseout", function (e) {
      gm.tiles.resetFeatureStyle(e.layer.properties.code);
      map.closeTooltip(tip);
      gm.gridTiles.fire("mouseout", e);
    });
    gm.tiles.on("click", function (e) {
      live.openGrid(map, e.layer.properties.code, e.latlng);
      gm.gridTiles.fire("click", e);
    });
    gm.tiles.on("load", function () {
      if (!gm.timings.gridsDrawnMs) gm.timings.gridsDrawnMs = performance.now();
      [gm.gridTiles, gm.committeeTiles, gm.divisionTiles, gm.roadTiles].forEach(function (part) {
        if (map.hasLayer(part)) part.fire("load");
      });
    });
    // the first tiles of the opening view
    gm.tiles.once("load", function () {
      if (!gm.timings.firstTilesMs) {
        gm.timings.firstTilesMs = performance.now();
        if (window.performance && performance.mark) performance.mark("gridmap:grids-drawn");
        document.body.setAttribute("data-gridmap-tiles", "1");
        document.dispatchEvent(new CustomEvent("gridmap:tiles"));
      }
    });
    drawn = JSON.stringify(shown);
    gm.tiles.addTo(map);
    [gm.gridTiles, gm.committeeTiles, gm.divisionTiles].forEach(function (part) { part.addTo(map); });
    gm.gridGroup = gm.gridTiles;
  };

  live.buildTiled = function (map) {
    var s = gm.cfg.strings, overlays = {};
    live.startTiles(map);
    overlays[s.layerDivisions] = gm.divisionTiles;
    overlays[s.layerCommittees] = gm.committeeTiles;
    overlays[s.layerGrids] = gm.gridTiles;
    return overlays;
  };

  live.minimapLayer = function () {
    return tileLayer("divisions", { fill: true, fillColor: "#cfd8e3", fillOpacity: 0.8, color: "#51606f", weight: 1 },
      { maxZoom: 19 });
  };

  // popups open clear of the search box and the controls above it (the whole width on a phone)
  function popupOptions(map, extra) {
    var box = document.querySelector(".gm-search"), top = 10;
    if (box) top = box.getBoundingClientRect().bottom - map.getContainer().getBoundingClientRect().top + 10;
    return L.extend({ autoPanPaddingTopLeft: L.point(10, Math.max(10, top)), autoPanPaddingBottomRight: L.point(10, 10) },
      extra);
  }

  // a grid's popup: from the payload when the grids were sent whole, else from its record
  live.openGrid = function (map, code, latlng) {
    var c = gm.cfg, popup = L.popup(popupOptions(map, { maxWidth: 340, minWidth: 240, className: "gm-grid-popup" }))
      .setLatLng(latlng);
    if (gm.gridLayerByCode && gm.gridLayerByCode[code]) {
      if (!map.hasLayer(gm.gridGroup)) map.addLayer(gm.gridGroup);
      var layer = gm.gridLayerByCode[code];
      L.extend(layer.getPopup().options, popupOptions(map));
      layer.openPopup(latlng);
      return;
    }
    popup.setContent('<div class="gm-popup">…</div>').openOn(map);
    fetch(c.live.gridRecordUrl + encodeURIComponent(code) + ".json", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (rec) {
        popup.setContent(gm.fn.gridPopupHtml(rec, rec.committee, rec.division, rec.personal));
      })
      .catch(function (err) { popup.setContent('<div class="gm-popup gm-error">' + esc(err.message) + "</div>"); });
  };

  // --- the city's own roads -------------------------------------------------------------------------------

  var ROAD = {
    arterial: { weight: 4, color: "#4a5461", opacity: 0.9 },
    secondary: { weight: 2.6, color: "#5d6876", opacity: 0.85 },
    local: { weight: 1.4, color: "#6c7785", opacity: 0.8 },
    rural: { weight: 1.2, color: "#7d8794", opacity: 0.8, dashArray: [4, 3] }
  };

  live.addRoads = function (map, overlays) {
    var c = gm.cfg;
    if (!c.live.roads) return;
    // tiled: a stand-in for the roads in the shared tiles; else (polygons sent whole) a tile layer of roads only
    if (!gm.roadTiles) gm.roadTiles = tileLayer("roads", roadStyle, { pane: "roads" });
    gm.roadLabels = L.layerGroup();
    var group = L.layerGroup([gm.roadTiles, gm.roadLabels]).addTo(map);
    overlays['<i class="fa-solid fa-road"></i> ' + c.strings.layerRoads] = group;
    var labels = null, pending = false;
    function draw() {
      gm.roadLabels.clearLayers();
      if (!map.hasLayer(group) || map.getZoom() < 15) return;
      if (!labels) {
        if (!pending) {
          pending = true;
          fetch(c.live.roadLabelsUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); })
            .then(function (rows) { labels = rows; draw(); });
        }
        return;
      }
      var view = map.getBounds().pad(0.1), seen = {};
      labels.forEach(function (r) {
        var ll = L.latLng(r[2], r[1]);
        if (!view.contains(ll)) return;
        var key = r[0] + Math.round(ll.lat * 200) + "," + Math.round(ll.lng * 200);
        if (seen[key]) return;
        seen[key] = true;
        L.marker(ll, {
          interactive: false, keyboard: false, pane: "boundaries",
          icon: L.divIcon({ className: "gm-road-label gm-road-" + r[4], iconSize: null,
                            html: '<span style="transform:translate(-50%,-50%) rotate(' + r[3] + 'deg)">' + r[0] + "</span>" })
        }).addTo(gm.roadLabels);
      });
    }
    map.on("moveend", draw);
    map.on("overlayadd overlayremove", draw);
    draw();
  };

  // --- search for everything -----------------------------------------------------------------------------

  // the standalone export has no server: search the payload's grids, committees and divisions
  function localSearch(q) {
    var out = [], needle = q.toLowerCase();
    function add(kind, list) {
      (list || []).forEach(function (r) {
        var name = String(r.name), code = String(r.code);
        if (name.toLowerCase().indexOf(needle) >= 0 || code.indexOf(needle) === 0) {
          out.push({ kind: kind, code: code, name: name, escaped: true, score: name === q || code === q ? 100 : 50 });
        }
      });
    }
    add("division", gm.divisions);
    add("committee", gm.committees);
    add("grid", gm.grids);
    out.sort(function (a, b) { return b.score - a.score; });
    return Promise.resolve(out.slice(0, 10));
  }

  function remoteSearch(q) {
    var url = gm.cfg.live.searchUrl + "&limit=10&q=" + encodeURIComponent(q);
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { if (!r.ok) throw new Error(body.error); return body.results; }); });
  }

  function layerBounds(kind, code) {
    var list = kind === "grid" ? gm.gridLayers : kind === "committee" ? gm.committeeLayers : gm.divisionLayers;
    var table = kind === "grid" ? gm.grids : kind === "committee" ? gm.committees : gm.divisions;
    if (!list || !table) return null;
    for (var i = 0; i < table.length; i++) if (String(table[i].code) === code) return list[i].getBounds();
    return null;
  }

  function place(map, r) {
    var b = r.bbox ? L.latLngBounds([r.bbox[1], r.bbox[0]], [r.bbox[3], r.bbox[2]]) : layerBounds(r.kind, r.code);
    var at = r.lat !== undefined ? L.latLng(r.lat, r.lon) : b ? b.getCenter() : map.getCenter();
    if (b && b.isValid()) {
      var maxZ = r.kind === "grid" ? Math.max(16, gm.cfg.live ? gm.cfg.live.zooms.grids : 0) : 16;
      map.fitBounds(b, { maxZoom: maxZ, padding: [30, 30], animate: false });
      if (r.kind === "grid" && gm.cfg.live && map.getZoom() < gm.cfg.live.zooms.grids) {
        map.setZoom(gm.cfg.live.zooms.grids, { animate: false });
      }
    } else {
      map.setView(at, Math.max(map.getZoom(), 17), { animate: false });
    }
    return at;
  }

  function openResult(map, r) {
    var c = gm.cfg, s = c.strings, at = place(map, r), name = r.escaped ? r.name : esc(r.name);
    var code = r.escaped ? r.code : esc(r.code), kind = esc(s.kindLabels[r.kind] || r.kind), html;
    if (r.kind === "grid") {
      if (gm.gridGroup && !map.hasLayer(gm.gridGroup)) map.addLayer(gm.gridGroup);
      live.openGrid(map, r.code, at);
      return;
    }
    if (r.kind === "facility" && gm.facilityById && gm.facilityById[code]) {
      html = gm.fn.facilityPopup(gm.facilityById[code].f);
    } else if (r.kind === "committee") {
      html = '<div class="gm-popup"><div class="gm-popup-title">' + name + ' <span class="gm-code">' + code +
        "</span></div><div>" + kind + '</div><a class="gm-popup-link" href="' + c.committeeUrl + code + '">' +
        esc(s.committeeDetails) + ' <i class="fa-solid fa-arrow-right"></i></a></div>';
    } else if (r.kind === "address") {
      html = '<div class="gm-popup"><div class="gm-popup-title">' + name + "</div><table>" +
        gm.fn.row(s.grid, '<a href="' + c.gridUrl + esc(r.detail) + '">' + esc(r.detail) + "</a>") + "</table></div>";
    } else {
      html = '<div class="gm-popup"><div class="gm-popup-title">' + name + ' <span class="gm-code">' + code +
        "</span></div><div>" + kind + "</div></div>";
    }
    L.popup(popupOptions(map, { maxWidth: 320, className: "gm-search-popup gm-search-popup-" + r.kind })).setLatLng(at)
      .setContent(html).openOn(map);
  }

  live.addSearch = function (map) {
    var c = gm.cfg, s = c.strings, control = L.control({ position: "topleft" });
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "gm-search leaflet-bar");
      div.innerHTML = '<i class="fa-solid fa-magnifying-glass"></i><input type="search" class="gm-search-input" ' +
        'autocomplete="off" spellcheck="false" aria-label="' + esc(s.searchEverything) + '" placeholder="' +
        esc(s.searchEverything) + '"><ul class="gm-search-results" role="listbox" hidden></ul>';
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    control.addTo(map);
    var div = control.getContainer(), input = div.querySelector("input"), list = div.querySelector("ul");
    // first in its corner, above the zoom buttons: on a phone the stacked controls would push it into the city
    div.parentNode.insertBefore(div, div.parentNode.firstChild);
    var timer = null, seq = 0, results = [], active = -1;
    function show(rows) {
      results = rows;
      active = rows.length ? 0 : -1;
      list.innerHTML = rows.length ? rows.map(function (r, i) {
        var name = r.escaped ? r.name : esc(r.name), code = r.escaped ? r.code : esc(r.code);
        return '<li role="option" data-i="' + i + '" class="gm-search-item' + (i === 0 ? " active" : "") + '">' +
          '<span class="gm-kind gm-kind-' + r.kind + '">' + esc(s.kindLabels[r.kind] || r.kind) + "</span>" +
          '<span class="gm-search-name">' + name + "</span>" +
          '<span class="gm-search-code">' + (r.kind === "address" ? esc(r.detail) : code) + "</span></li>";
      }).join("") : '<li class="gm-search-none">' + esc(s.searchEmpty) + "</li>";
      list.hidden = false;
    }
    function run() {
      var q = input.value.trim(), mine = ++seq;
      if (!q) { list.hidden = true; return; }
      (c.live ? remoteSearch(q) : localSearch(q)).then(function (rows) { if (mine === seq) show(rows); })
        .catch(function () { if (mine === seq) show([]); });
    }
    function choose(i) {
      var r = results[i];
      if (!r) return;
      list.hidden = true;
      input.blur();
      openResult(map, r);
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 180); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); if (active >= 0) choose(active); else run(); }
      else if (e.key === "Escape") { list.hidden = true; }
      else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!results.length) return;
        active = (active + (e.key === "ArrowDown" ? 1 : results.length - 1)) % results.length;
        list.querySelectorAll("li").forEach(function (li, i) { li.classList.toggle("active", i === active); });
      }
    });
    list.addEventListener("click", function (e) {
      var li = e.target.closest("li[data-i]");
      if (li) choose(Number(li.getAttribute("data-i")));
    });
    gm.search = { input: input, run: run, choose: choose };
  };

  // the standalone export ships map.js only: it gets a search box over its own payload
  gm.liveSearchOnly = live.addSearch;
})();
