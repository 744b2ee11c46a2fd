/* gridmap home map: decodes the compact layer payload and builds the grid, boundary and facility layers.
 * Text in the payload is HTML-escaped on the server; it is only ever inserted as HTML, never unescaped. */
(function () {
  "use strict";

  var gm = (window.gridmap = window.gridmap || {});
  gm.timings = gm.timings || {};

  // --- topology: arcs stored once, with the feature on each side (see app/geo/_map_topology.py) ---------

  function decodeTopology(t, q, o) {
    var arcs = new Array(t.n.length), x = 0, y = 0, k = 0, prev = null;
    for (var i = 0; i < t.n.length; i++) {
      var n = t.n[i], pts = [], arc = { ll: pts };
      if (n < 0) {
        pts.push(prev.ll[prev.ll.length - 1]);
        arc.s = prev.e;
        n = -n;
      }
      for (var j = 0; j < n; j++, k++) {
        x += t.x[k];
        y += t.y[k];
        pts.push([o[1] + y * q, o[0] + x * q]);
        if (j === 0 && arc.s === undefined) arc.s = x + "," + y;
      }
      arc.e = x + "," + y;
      arcs[i] = prev = arc;
    }
    var left = new Array(t.left.length), right = new Array(t.right.length), l = 0;
    for (i = 0; i < t.left.length; i++) {
      l += t.left[i];
      left[i] = l;
      right[i] = t.right[i] ? l + t.right[i] : -1;
    }
    return { arcs: arcs, left: left, right: right };
  }

  // rings of each group of features (its union's outline): arcs whose sides are in different groups,
  // oriented with the group on the left and chained end to start; they fill the area even-odd
  function assemble(topo, n, groupOf) {
    var pieces = [], a, l, r;
    for (a = 0; a < n; a++) pieces.push([]);
    for (a = 0; a < topo.arcs.length; a++) {
      l = groupOf(topo.left[a]);
      r = topo.right[a] >= 0 ? groupOf(topo.right[a]) : -1;
      if (l === r) continue;
      if (l >= 0) pieces[l].push(a);
      if (r >= 0) pieces[r].push(~a);
    }
    return pieces.map(function (refs) { return chain(topo.arcs, refs); });
  }

  function chain(arcs, refs) {
    var byStart = {}, used = new Array(refs.length), rings = [], k0, k, j;
    refs.forEach(function (ref, i) {
      var key = ref >= 0 ? arcs[ref].s : arcs[~ref].e;
      (byStart[key] = byStart[key] || []).push(i);
    });
    for (k0 = 0; k0 < refs.length; k0++) {
      if (used[k0]) continue;
      var ring = [], head = refs[k0] >= 0 ? arcs[refs[k0]].s : arcs[~refs[k0]].e;
      k = k0;
      for (;;) {
        used[k] = true;
        var ref = refs[k], arc = arcs[ref >= 0 ? ref : ~ref], pts = arc.ll, skip = ring.length ? 1 : 0, end;
        if (ref >= 0) {
          for (j = skip; j < pts.length; j++) ring.push(pts[j]);
          end = arc.e;
        } else {
          for (j = pts.length - 1 - skip; j >= 0; j--) ring.push(pts[j]);
          end = arc.s;
        }
        if (end === head) break;
        var cands = byStart[end] || [], next = -1;
        for (j = 0; j < cands.length; j++) if (!used[cands[j]]) { next = cands[j]; break; }
        if (next < 0) break;
        k = next;
      }
      var tail = ring[ring.length - 1];
      if (ring.length > 1 && ring[0][0] === tail[0] && ring[0][1] === tail[1]) ring.pop();
      rings.push(ring);
    }
    return rings;
  }

  function identity(i) { return i; }

  // outlines of a boundary layer: its own topology when the server sent one, else from its grids
  function boundaryRings(part, column) {
    var n = part.columns[0].length;
    if (part.topology) return assemble(decodeTopology(part.topology, gm.q, gm.o), n, identity);
    return assemble(gm.topology, n, function (i) { return column[i]; });
  }

  function tableRecords(part) {
    var cols = part.columns, fields = part.fields, n = cols.length ? cols[0].length : 0, out = new Array(n);
    for (var i = 0; i < n; i++) {
      var o = {};
      for (var f = 0; f < fields.length; f++) o[fields[f]] = cols[f][i];
      out[i] = o;
    }
    return out;
  }

  function column(part, name) {
    return part.columns[part.fields.indexOf(name)];
  }

  // facility counts per grid (the fac_* attributes), counted from the facility rows as the server does
  function countFacilities() {
    var cats = gm.cfg.categories, keys = Object.keys(cats);
    gm.grids.forEach(function (g) {
      g.facilities = 0;
      keys.forEach(function (k) { g["fac_" + k] = 0; });
    });
    gm.facilities.forEach(function (f) {
      var g = typeof f.grid === "number" ? gm.grids[f.grid] : null;
      if (g && Object.prototype.hasOwnProperty.call(cats, f.category)) {
        g["fac_" + f.category] += 1;
        g.facilities += 1;
      }
    });
  }

  function fmt(n) {
    return typeof n === "number" ? n.toLocaleString(gm.cfg.lang === "en" ? "en-US" : "zh-CN") : "";
  }

  function classOf(value, breaks) {
    var n = breaks.length - 1;
    for (var i = 1; i < n; i++) if (value < breaks[i]) return i - 1;
    return Math.max(n - 1, 0);
  }

  function legendLabel(cls, i) {
    var lo = cls.breaks[i], hi = cls.breaks[i + 1];
    if (cls.discrete || lo === hi) return fmt(lo);
    return fmt(lo) + " – " + fmt(hi);
  }

  function gridStyle(rec) {
    var attr = gm.attr, cls = gm.data.classes[attr];
    return {
      pane: "grids", color: "#51606f", weight: 0.7, opacity: 0.9,
      fillColor: cls.colors[classOf(rec[attr], cls.breaks)], fillOpacity: 0.72
    };
  }

  function row(label, value) {
    return "<tr><th>" + label + "</th><td>" + value + "</td></tr>";
  }

  function gridPopup(i) {
    var rec = gm.grids[i];
    return gridPopupHtml(rec, gm.committees[rec.committee], gm.divisions[rec.division],
      gm.data.grids.personal ? gm.data.grids.personal[i] : null);
  }

  // rec: the grid's fields; com, div: {code, name} or null; personal: staff names and phones or null
  function gridPopupHtml(rec, com, div, personal) {
    var c = gm.cfg, s = c.strings;
    var facs = [];
    Object.keys(c.categories).forEach(function (k) {
      var n = rec["fac_" + k];
      if (n) facs.push('<span class="gm-fac-chip" style="--c:' + c.categories[k].color + '"><i class="fa-solid fa-' +
        c.categories[k].icon + '"></i> ' + c.categories[k].label + " " + n + "</span>");
    });
    var staff = s.staffSummary.replace("{l}", fmt(rec.leaders)).replace("{w}", fmt(rec.workers))
      .replace("{i}", fmt(rec.instructors)).replace("{n}", fmt(rec.parttime));
    if (personal) {
      staff += "<br>" + s.leader + ": " + personal.leader_name + " " + personal.leader_phone +
        "<br>" + s.worker + ": " + personal.worker_name + " " + personal.worker_phone +
        "<br>" + s.instructor + ": " + personal.instructor_name + " " + personal.instructor_phone;
    } else {
      staff += '<br><span class="gm-muted">' + s.staffHidden + "</span>";
    }
    return '<div class="gm-popup"><div class="gm-popup-title">' + rec.name +
      ' <span class="gm-code">' + rec.code + "</span></div><table>" +
      row(s.committee, com ? '<a href="' + c.committeeUrl + com.code + '">' + com.name + "</a>" : "") +
      row(s.division, div ? div.name : "") +
      row(s.population, fmt(rec.population) + " " + s.people) +
      row(s.households, fmt(rec.households) + " " + s.householdsUnit) +
      row(s.area, fmt(rec.area_km2) + " km²") +
      row(s.density, fmt(rec.density) + " " + s.densityUnit) +
      row(s.staff, staff) +
      row(s.facilities, facs.length ? facs.join(" ") : s.none) +
      '</table><a class="gm-popup-link" href="' + c.gridUrl + rec.code + '">' + s.gridDetails +
      ' <i class="fa-solid fa-arrow-right"></i></a></div>';
  }

  function facilityIcon(cat) {
    var c = gm.cfg.categories[cat] || { color: "#555", icon: "location-dot" };
    return L.divIcon({
      className: "gm-fac-icon", iconSize: [24, 24], iconAnchor: [12, 12], popupAnchor: [0, -12],
      html: '<span style="background:' + c.color + '"><i class="fa-solid fa-' + c.icon + '"></i></span>'
    });
  }

  function facilityPopup(f) {
    var c = gm.cfg, s = c.strings, cat = c.categories[f.category] || { label: f.category };
    var sub = f.subtype && c.subtypes[f.category] ? (c.subtypes[f.category][f.subtype] || f.subtype) : "";
    var grid = typeof f.grid === "number" ? gm.grids[f.grid] : null;
    return '<div class="gm-popup"><div class="gm-popup-title">' + f.name + "</div><table>" +
      row(s.category, cat.label + (sub ? " · " + sub : "")) +
      (f.capacity !== null ? row(s.capacity, fmt(f.capacity)) : "") +
      row(s.grid, grid ? '<a href="' + c.gridUrl + grid.code + '">' + grid.name + "</a>" :
        typeof f.grid === "string" && f.grid ? '<a href="' + c.gridUrl + f.grid + '">' + f.grid + "</a>" : f.grid) +
      "</table></div>";
  }

  function clusterIcon(color) {
    return function (cluster) {
      var n = cluster.getChildCount(), size = n < 10 ? 30 : n < 100 ? 36 : 42;
      return L.divIcon({
        className: "gm-cluster", iconSize: [size, size],
        html: '<span style="background:' + color + '">' + n + "</span>"
      });
    };
  }

  function addLegend(map) {
    var c = gm.cfg, legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "gm-legend leaflet-bar");
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      gm.legendDiv = div;
      return div;
    };
    legend.addTo(map);
    drawLegend();
  }

  function drawLegend() {
    var c = gm.cfg, s = c.strings, cls = gm.data.classes[gm.attr], div = gm.legendDiv;
    var opts = Object.keys(c.attributes).map(function (k) {
      return '<option value="' + k + '"' + (k === gm.attr ? " selected" : "") + ">" + c.attributes[k].label + "</option>";
    }).join("");
    var items = cls.colors.map(function (col, i) {
      return '<div class="gm-legend-row"><span class="gm-legend-swatch" style="background:' + col + '"></span>' +
        legendLabel(cls, i) + "</div>";
    }).join("");
    div.innerHTML = '<div class="gm-legend-title">' + s.legend + "</div>" +
      '<label class="gm-legend-label">' + s.colourBy +
      ' <select class="form-select form-select-sm" id="gm-attr">' + opts + "</select></label>" +
      '<div class="gm-legend-unit">' + c.attributes[gm.attr].label + " (" + c.attributes[gm.attr].unit + ")</div>" +
      items;
    div.querySelector("#gm-attr").addEventListener("change", function (e) { gm.setAttribute(e.target.value); });
  }

  gm.setAttribute = function (attr) {
    if (!gm.data.classes[attr]) return;
    gm.attr = attr;
    if (gm.gridLayers) gm.gridLayers.forEach(function (layer, i) { layer.setStyle(gridStyle(gm.grids[i])); });
    else if (gm.gridTiles) gm.gridTiles.redraw();
    drawLegend();
    var url = new URL(window.location.href);
    url.searchParams.set("attr", attr);
    window.history.replaceState(null, "", url.toString());
    var exp = document.getElementById("gm-export");
    if (exp) {
      var eu = new URL(exp.href, window.location.href);
      eu.searchParams.set("attr", attr);
      exp.href = eu.pathname + eu.search;
    }
  };

  function addMinimap(map) {
    var c = gm.cfg, layer;
    if (c.minimapTiles) {
      layer = L.tileLayer(c.minimapTiles.url, c.minimapTiles.options);
    } else if (!gm.divisionRings) {
      layer = gm.live.minimapLayer();
    } else {
      layer = L.layerGroup(gm.divisionRings.map(function (rings) {
        return L.polygon(rings, {
          color: "#51606f", weight: 1, fillColor: "#cfd8e3", fillOpacity: 0.8, interactive: false
        });
      }));
    }
    new L.Control.MiniMap(layer, {
      position: "bottomleft", toggleDisplay: true, width: 150, height: 150, zoomLevelOffset: -4,
      strings: { hideText: c.strings.minimapHide, showText: c.strings.minimapShow }
    }).addTo(map);
  }

  function makePanes(map) {
    if (map.getPane("grids")) return;
    map.createPane("grids").style.zIndex = 410;
    map.createPane("roads").style.zIndex = 415;
    map.createPane("boundaries").style.zIndex = 420;
  }

  function build(map, data) {
    var c = gm.cfg, s = c.strings;
    gm.data = data;
    gm.q = data.quantum;
    gm.o = data.origin;
    gm.timings.dataMs = performance.now();
    if (!map.options.maxZoom) map.setMaxZoom(19);
    makePanes(map);
    if (data.tiled) {
      gm.divisions = tableRecords(data.divisions);
      gm.committees = tableRecords(data.committees);
      gm.facilities = tableRecords(data.facilities);
      // the first tiles are drawn before the facilities and controls take the main thread
      var done = false, go = function () {
        if (done) return;
        done = true;
        finish(map, gm.live.buildTiled(map));
      };
      if (gm.timings.firstTilesMs) go();
      else {
        document.addEventListener("gridmap:tiles", go, { once: true });
        setTimeout(go, 2000);
      }
      return;
    }

    // grids first: they are what the planner looks for
    gm.grids = tableRecords(data.grids);
    gm.divisions = tableRecords(data.divisions);
    gm.committees = tableRecords(data.committees);
    // code and name columns sent as what follows the committee's code or name
    (data.grids.prefixed || []).forEach(function (f) {
      gm.grids.forEach(function (g) { g[f] = gm.committees[g.committee][f] + g[f]; });
    });
    gm.gridByCode = {};
    gm.grids.forEach(function (g) { gm.gridByCode[g.code] = g; });
    gm.divisionByCode = {};
    gm.divisions.forEach(function (d) { gm.divisionByCode[d.code] = d; });
    gm.committeeByCode = {};
    gm.committees.forEach(function (d) { gm.committeeByCode[d.code] = d; });
    gm.facilities = tableRecords(data.facilities);
    countFacilities();

    gm.topology = decodeTopology(data.grids.topology, gm.q, gm.o);
    gm.gridLayers = assemble(gm.topology, gm.grids.length, identity).map(function (rings, i) {
      var layer = L.polygon(rings, gridStyle(gm.grids[i]));
      layer.bindTooltip(gm.grids[i].code + " " + gm.grids[i].name, { sticky: true, className: "gm-tooltip" });
      layer.bindPopup(function () { return gridPopup(i); }, { maxWidth: 340, minWidth: 240 });
      layer.on("mouseover", function () { layer.setStyle({ weight: 2.5, color: "#1d3557" }); });
      layer.on("mouseout", function () { layer.setStyle({ weight: 0.7, color: "#51606f" }); });
      layer.gridCode = gm.grids[i].code;
      return layer;
    });
    gm.gridGroup = L.featureGroup(gm.gridLayers).addTo(map);
    gm.gridLayerByCode = {};
    gm.gridLayers.forEach(function (layer) { gm.gridLayerByCode[layer.gridCode] = layer; });
    gm.gridLayers.forEach(function (layer) {
      var el = layer.getElement && layer.getElement();
      if (el) el.setAttribute("data-code", layer.gridCode);
    });
    gm.gridLayer = gm.gridGroup;
    gm.timings.gridsDrawnMs = performance.now();
    if (window.performance && performance.mark) performance.mark("gridmap:grids-drawn");

    gm.committeeLayers = boundaryRings(data.committees, column(data.grids, "committee")).map(function (rings) {
      return L.polygon(rings, {
        pane: "boundaries", color: "#2b4a6f", weight: 1.6, fill: false, interactive: false
      });
    });
    gm.committeeGroup = L.featureGroup(gm.committeeLayers).addTo(map);
    gm.divisionRings = boundaryRings(data.divisions, column(data.grids, "division"));
    gm.divisionLayers = gm.divisionRings.map(function (rings) {
      return L.polygon(rings, {
        pane: "boundaries", color: "#7a1f3d", weight: 3, dashArray: "8 4", fill: false, interactive: false
      });
    });
    gm.divisionGroup = L.featureGroup(gm.divisionLayers).addTo(map);

    var overlays = {};
    overlays[s.layerDivisions] = gm.divisionGroup;
    overlays[s.layerCommittees] = gm.committeeGroup;
    overlays[s.layerGrids] = gm.gridGroup;
    finish(map, overlays);
  }

  // A tiled (large) city: markercluster puts markers in three times the view each way (pad(1)), thousands of
  // DOM icons re-made on every zoom; here only the view and a fifth around it, and only from the zoom the grids
  // show at (below it a thousand clusters cover the screen; the grid colours carry the facility counts).
  function clusterOnlyInView(group, map) {
    var from = gm.cfg.live.zooms.grids, nowhere = L.latLngBounds([[-89, -179], [-88.9, -178.9]]);
    group._getExpandedVisibleBounds = function () {
      return map.getZoom() < from ? nowhere : map.getBounds().pad(0.2);
    };
  }

  // what both paths share: roads, facilities, the layer switcher, legend, search and minimap
  function finish(map, overlays) {
    var c = gm.cfg, tiled = !!(c.live && c.live.tiled);
    if (c.live && gm.live) gm.live.addRoads(map, overlays);
    // facilities: one clustered layer per category, with its count in the layer name
    var byCat = {};
    gm.facilityById = {};
    gm.facilities.forEach(function (f) {
      (byCat[f.category] = byCat[f.category] || []).push(f);
    });
    gm.facilityGroups = {};
    Object.keys(c.categories).forEach(function (cat) {
      var list = byCat[cat] || [], meta = c.categories[cat];
      var group = L.markerClusterGroup({
        maxClusterRadius: 45, disableClusteringAtZoom: 17, showCoverageOnHover: false,
        spiderfyOnMaxZoom: true, chunkedLoading: true, iconCreateFunction: clusterIcon(meta.color),
        // a large (tiled) city has thousands of clusters: the animated merge forces a layout per zoom (seconds)
        animate: !tiled
      });
      if (tiled) clusterOnlyInView(group, map);
      var icon = facilityIcon(cat);
      group.addLayers(list.map(function (f) {
        var mk = L.marker([gm.o[1] + f.y * gm.q, gm.o[0] + f.x * gm.q], { icon: icon, title: "" });
        gm.facilityById[f.id] = { f: f, marker: mk, group: group };
        mk.bindPopup(function () { return facilityPopup(f); });
        mk.bindTooltip(f.name, { direction: "top", offset: [0, -10] });
        return mk;
      }));
      group.addTo(map);
      gm.facilityGroups[cat] = group;
      overlays['<span class="gm-layer-swatch" style="background:' + meta.color + '"><i class="fa-solid fa-' +
        meta.icon + '"></i></span> ' + meta.label + " (" + list.length + ")"] = group;
    });

    gm.layerControl = L.control.layers(gm.baseLayers || {}, overlays, { collapsed: c.collapseLayers, position: "topright" })
      .addTo(map);
    addLegend(map);
    if (gm.live) gm.live.addSearch(map);
    addMinimap(map);
    var loading = document.getElementById("gm-loading");
    if (loading) loading.remove();
    gm.timings.readyMs = performance.now();
    gm.ready = true;
    document.body.setAttribute("data-gridmap-ready", "1");
    document.dispatchEvent(new CustomEvent("gridmap:ready"));
  }

  // helpers the tiled map and the search box (map-live.js) use
  gm.fn = {
    classOf: classOf, fmt: fmt, row: row, gridPopup: gridPopup, gridPopupHtml: gridPopupHtml,
    facilityPopup: facilityPopup
  };

  gm.home = function (map, cfg, baseLayers) {
    gm.cfg = cfg;
    gm.map = map;
    gm.attr = cfg.attr;
    gm.baseLayers = baseLayers;
    var mouse = document.querySelector(".leaflet-control-mouseposition");
    if (mouse) mouse.classList.add("gm-mouse");
    if (cfg.live && cfg.live.tiled && gm.live) {  // tiles need no payload: start them while it loads,
      setTimeout(function () {                     // once the page's script has set the opening view
        makePanes(map);
        gm.live.startTiles(map);
      }, 0);
    }
    var got = window.GRIDMAP_DATA ? Promise.resolve(window.GRIDMAP_DATA)
      : fetch(cfg.dataUrl, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      });
    got.then(function (data) { build(map, data); }).catch(function (err) {
      var loading = document.getElementById("gm-loading");
      if (loading) {
        loading.textContent = cfg.strings.loadFailed + ": " + err.message;
        loading.classList.add("gm-error");
      }
      throw err;
    });
  };
})();
