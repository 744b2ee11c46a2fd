/* gridmap home map: grid events as a clustered layer and a heat map, and event figures as choropleth attributes.
 * Loaded after map.js; waits for "gridmap:ready" and adds its overlays to the map's layer switcher
 * (gm.layerControl). The server decides what a viewer may see (exact points for staff, the grid's point for
 * the public); this script only draws it. Text goes in with textContent, never as HTML. */
(function () {
  "use strict";
  var gm = (window.gridmap = window.gridmap || {});
  var cfgNode = document.getElementById("gm-events-layer-config");
  if (!cfgNode) return;
  var cfg = JSON.parse(cfgNode.textContent), s = cfg.strings;
  var ev = (gm.events = { loaded: false, points: null, shares: {} });
  var COLORS = { open: "#f08c00", overdue: "#d62828", closed: "#2b9348", other: "#6c757d" };

  function kind(p) {
    if (p.status === "closed") return "closed";
    if (p.overdue) return "overdue";
    return p.status === "rejected" ? "other" : "open";
  }

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = text;
    return n;
  }

  function popup(p) {
    var box = el("div", "gm-popup gm-ev-popup");
    box.appendChild(el("div", "gm-popup-title", p.category_name + " · " + p.id));
    var t = el("table");
    [[s.status, p.status_name + (p.overdue ? " · " + s.overdue : "")], [s.grid, p.grid_code],
     [s.reported, p.reported_on], [s.closed, p.closed_on]].forEach(function (r) {
      if (!r[1]) return;
      var tr = el("tr");
      tr.appendChild(el("th", "", r[0]));
      tr.appendChild(el("td", "", r[1]));
      t.appendChild(tr);
    });
    box.appendChild(t);
    if (p.url) {
      var a = el("a", "gm-popup-link", s.open);
      a.href = p.url;
      box.appendChild(a);
    } else {
      box.appendChild(el("div", "gm-muted small", s.coarse));
    }
    return box;
  }

  function clusterIcon(cluster) {
    var kids = cluster.getAllChildMarkers(), n = kids.length, late = 0, open = 0;
    kids.forEach(function (m) { if (m.evKind === "overdue") late++; else if (m.evKind === "open") open++; });
    var color = late ? COLORS.overdue : open ? COLORS.open : COLORS.closed, size = n < 10 ? 28 : n < 100 ? 34 : 40;
    return L.divIcon({ className: "gm-cluster gm-ev-cluster", iconSize: [size, size],
                       html: '<span style="background:' + color + '">' + n + "</span>" });
  }

  function load() {
    if (ev.pending) return ev.pending;
    var url = new URL(cfg.pointsUrl, window.location.href);
    url.searchParams.set("datum", cfg.datum);
    ev.pending = fetch(url.toString(), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (body) {
      ev.points = body;
      ev.loaded = true;
      var markers = body.events.map(function (p) {
        var k = kind(p), mk = L.circleMarker([p.lat, p.lon], {
          radius: 7, color: "#ffffff", weight: 1.5, fillColor: COLORS[k], fillOpacity: 0.95
        });
        mk.evKind = k;
        mk.evId = p.id;
        mk.bindPopup(function () { return popup(p); });
        return mk;
      });
      ev.cluster.clearLayers();
      ev.cluster.addLayers(markers);
      if (ev.heat) ev.heat.setLatLngs(body.events.map(function (p) {
        return [p.lat, p.lon, kind(p) === "closed" ? 0.4 : 1];
      }));
      document.body.setAttribute("data-events-loaded", String(body.events.length));
      document.dispatchEvent(new CustomEvent("gridmap:events", { detail: body }));
      return body;
    }).catch(function (err) {
      ev.pending = null;
      document.body.setAttribute("data-events-error", err.message);
      if (window.console) console.warn(s.failed, err);
    });
    return ev.pending;
  }

  // --- choropleth attributes: ev_<attr> per grid, evc_<attr> per committee (grids take their committee's value)
  var ATTRS = ["total", "open_share", "overdue_share", "closed_share", "mean_hours_to_close"];

  function addAttributes(level, body) {
    var prefix = level === "grid" ? "ev_" : "evc_", suffix = level === "grid" ? s.byGrid : s.byCommittee;
    var index = {};
    body.codes.forEach(function (c, i) { index[c] = i; });
    ATTRS.forEach(function (a) {
      var key = prefix + a, values = body.values[a];
      gm.data.classes[key] = body.classes[a];
      gm.cfg.attributes[key] = { label: body.labels[a] + "（" + suffix + "）", unit: body.units[a] };
      gm.grids.forEach(function (g) {
        var code = level === "grid" ? g.code : (gm.committees[g.committee] || {}).code;
        var i = index[code], v = i === undefined ? null : values[i];
        g[key] = v === null ? 0 : v;  // an area without events draws in the lowest class
      });
    });
  }

  function loadShares() {
    if (!gm.grids || !gm.data || !gm.data.classes) return Promise.resolve(null);  // a tiled city: not offered
    return Promise.all(["grid", "committee"].map(function (level) {
      var url = new URL(cfg.sharesUrl, window.location.href);
      url.searchParams.set("level", level);
      return fetch(url.toString(), { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (body) { ev.shares[level] = body; addAttributes(level, body); });
    })).then(function () {
      var asked = new URL(window.location.href).searchParams.get("evattr");
      gm.setAttribute(asked && gm.data.classes[asked] ? asked : gm.attr);  // redraws the legend with the new choices
      document.body.setAttribute("data-events-attributes", "1");
    }).catch(function (err) { if (window.console) console.warn(s.failed, err); });
  }

  // the page URL and the export link keep a base attribute (the server knows only those); ours go in evattr
  function wrapSetAttribute() {
    var base = gm.setAttribute, lastBase = gm.attr;
    gm.setAttribute = function (attr) {
      var ours = /^evc?_/.test(attr);
      if (!ours) lastBase = attr;
      base(attr);
      var url = new URL(window.location.href);
      if (ours) {
        url.searchParams.set("attr", lastBase);
        url.searchParams.set("evattr", attr);
      } else {
        url.searchParams.delete("evattr");
      }
      window.history.replaceState(null, "", url.toString());
      var exp = document.getElementById("gm-export");
      if (exp && ours) {
        var eu = new URL(exp.href, window.location.href);
        eu.searchParams.set("attr", lastBase);
        exp.href = eu.pathname + eu.search;
      }
    };
  }

  function start() {
    var map = gm.map;
    if (!map || !gm.layerControl || ev.cluster) return;
    ev.cluster = L.markerClusterGroup({
      maxClusterRadius: 50, disableClusteringAtZoom: 18, showCoverageOnHover: false, spiderfyOnMaxZoom: true,
      chunkedLoading: true, iconCreateFunction: clusterIcon
    });
    ev.cluster.on("add", load);
    gm.layerControl.addOverlay(ev.cluster, '<span class="gm-layer-swatch" style="background:' + COLORS.overdue +
      '"><i class="fa-solid fa-bullhorn"></i></span> ' + s.layerClusters);
    if (L.heatLayer) {  // leaflet.heat (the vendor asset); without it the heat option is left out
      ev.heat = L.heatLayer([], { radius: 22, blur: 18, maxZoom: 17, minOpacity: 0.35 });
      ev.heat.on("add", function () {
        load().then(function () { if (ev.points) ev.heat.redraw(); });
      });
      gm.layerControl.addOverlay(ev.heat, '<span class="gm-layer-swatch" style="background:#e85d04">' +
        '<i class="fa-solid fa-fire"></i></span> ' + s.layerHeat);
    }
    wrapSetAttribute();
    var url = new URL(window.location.href);
    if (url.searchParams.get("events") === "1") map.addLayer(ev.cluster);
    if (url.searchParams.get("events") === "heat" && ev.heat) map.addLayer(ev.heat);
    loadShares();
  }

  if (gm.ready) start();
  else document.addEventListener("gridmap:ready", start);
})();
