/* gridmap coverage page: run an analysis, draw grids, service area and facilities, list underserved grids, compare A/B. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("gm-cov-config").textContent);
  var T = cfg.text;
  var presets = cfg.presets;
  var cats = cfg.categories;
  var form = document.getElementById("gm-cov-form");
  var map = L.map("gm-cov-map", { preferCanvas: true, maxZoom: 19 });
  /* the phone drawer opened or closed over the map (nav.js): keep the view in the strip still visible */
  document.addEventListener("gm-drawer-move", function (e) { map.panBy([0, e.detail.dy], { animate: false }); });
  if (cfg.bounds) { map.fitBounds(cfg.bounds); } else { map.setView([0, 0], 2); }
  map.createPane("facilities").style.zIndex = 450;
  var state = { units: null, overview: null, service: null, facilities: null, selected: null, byCode: {}, runs: 0,
                current: null, pinned: null, seq: 0, props: {}, bbox: {}, tileLoads: 0 };
  window.gridmapCoverage = { map: map, state: state };

  function $(id) { return document.getElementById(id); }
  function node(tag, attrs, children) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") n.textContent = attrs[k]; else if (k === "cls") n.className = attrs[k]; else n.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return n;
  }
  function catName(key) { var c = cats[key]; return c ? c.label : key; }
  function num(v, digits) {
    if (v === null || v === undefined || v === "") return "–";
    return Number(v).toLocaleString(cfg.locale, { maximumFractionDigits: digits === undefined ? 1 : digits });
  }
  function pct(v) { return v === null || v === undefined ? "–" : num(v, 1) + "%"; }
  function metres(v) { return v === null || v === undefined ? "–" : num(v, 0) + " m"; }

  /* -- map styling and legend --------------------------------------------------------------------- */
  function color(p) {
    if (p === null || p === undefined) return "#cccccc";
    return p >= 90 ? "#1a9850" : p >= 80 ? "#91cf60" : p >= 60 ? "#d9ef8b" : p >= 40 ? "#fee08b" : p >= 20 ? "#fc8d59" : "#d73027";
  }
  function unitStyle(f) {
    var p = f.properties, sel = state.selected === p.code;
    return { color: sel ? "#1d3557" : p.below_target ? "#b00020" : "#666",
             weight: sel ? 4 : p.below_target ? 2 : 0.5,
             fillColor: color(p.residents_pct), fillOpacity: 0.65 };
  }
  var legendDiv = null;
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () { legendDiv = L.DomUtil.create("div", "gm-cov-legend"); drawLegend([]); return legendDiv; };
  function swatch(style) { var i = node("i"); Object.keys(style).forEach(function (k) { i.style[k] = style[k]; }); return i; }
  function drawLegend(kinds) {
    if (!legendDiv) return;
    legendDiv.textContent = "";
    legendDiv.appendChild(node("div", { text: T.legend_residents }));
    [[90, "≥ 90%"], [80, "80–90%"], [60, "60–80%"], [40, "40–60%"], [20, "20–40%"], [0, "< 20%"]].forEach(function (s) {
      legendDiv.appendChild(node("div", {}, [swatch({ background: color(s[0]) }), s[1]]));
    });
    legendDiv.appendChild(node("div", {}, [swatch({ border: "2px solid #b00020" }), T.underserved]));
    legendDiv.appendChild(node("div", {}, [swatch({ border: "2px solid #08519c" }), T.service]));
    kinds.forEach(function (k) {
      legendDiv.appendChild(node("div", {}, [swatch({ background: (cats[k] || {}).color || "#555", borderRadius: "50%",
                                                      border: "1px solid #fff" }), catName(k)]));
    });
  }
  legend.addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  /* -- a large city: the units are vector tiles, styled by the result's values joined by code ----------- */
  var tiles = cfg.tiles || null, vectorGrid = null;
  function loadVectorGrid() {
    /* Leaflet.VectorGrid, only on pages that draw tiles (once) */
    if (!vectorGrid) {
      vectorGrid = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = tiles.script;
        s.onload = function () {
          /* Leaflet 1.8 dropped L.DomEvent.fakeStop, which VectorGrid 1.3's canvas renderer calls on a click */
          if (!L.DomEvent.fakeStop) L.DomEvent.fakeStop = function (e) { if (e) e._stopped = true; return true; };
          /* a tile whose fetch ends after its layer left the map must not reach Leaflet (this._map is null) */
          if (!L.GridLayer.prototype._gmGuarded) {
            var tileReady = L.GridLayer.prototype._tileReady;
            L.GridLayer.prototype._tileReady = function (c, err, tile) { if (this._map) tileReady.call(this, c, err, tile); };
            L.GridLayer.prototype._gmGuarded = true;
          }
          resolve();
        };
        s.onerror = function () { reject(new Error(tiles.script)); };
        document.head.appendChild(s);
      });
    }
    return vectorGrid;
  }
  function tileLayer(layer, style, options) {
    var styles = {};
    styles[layer] = style;
    /* a tile of map zoom z is the XYZ tile of zoom z + zoomOffset (VectorGrid puts coords.z in {tz}) */
    return L.vectorGrid.protobuf(tiles.url.replace("{layer}", layer).replace("{z}", "{tz}"), L.extend({
      rendererFactory: L.canvas.tile, vectorTileLayerStyles: styles, maxNativeZoom: tiles.maxNativeZoom,
      tileSize: tiles.tileSize, maxZoom: 19, fetchOptions: { credentials: "same-origin" },
      tz: function (data) { return data.z + tiles.zoomOffset; },
      getFeatureId: function (f) { return f.properties.code; }
    }, options, { minZoom: Math.max(options.minZoom || 0, -tiles.zoomOffset) }));
  }
  function byCode(units) {
    /* {"fields": [...], "rows": [[...]]} -> {code: properties} */
    var out = {};
    if (!units) return out;
    units.rows.forEach(function (row) {
      var p = {};
      units.fields.forEach(function (f, i) { p[f] = row[i]; });
      out[p.code] = p;
    });
    return out;
  }
  var svgMarkers = null;
  function tiledPanes() {
    /* the unit tiles take the clicks: they sit above the base map, and the panes over them let clicks
       through except on a facility marker (drawn as SVG, so only the marker itself is hit) */
    if (map.getPane("units")) return;
    map.createPane("units").style.zIndex = 350;
    map.getPane("overlayPane").style.pointerEvents = "none";
    map.getPane("facilities").style.pointerEvents = "none";
    svgMarkers = L.svg({ pane: "facilities" });
  }
  function drawTiled(body) {
    tiledPanes();
    state.props = byCode(body.units);
    state.bbox = {};
    body.underserved.forEach(function (g) { if (g.bbox) state.bbox[g.code] = g.bbox; });
    var unitZoom = tiles.zooms[body.units.layer] || 0;
    function style(p) { return L.extend({ fill: true }, unitStyle({ properties: state.props[p.code] || p })); }
    state.units = tileLayer(body.units.layer, style, { pane: "units", minZoom: unitZoom, interactive: true });
    state.units.on("click", function (e) { openUnit(state.props, e.layer.properties.code, e.latlng); });
    state.units.on("load", function () {
      state.tileLoads += 1;
      document.body.setAttribute("data-coverage-tiles", String(state.tileLoads));
    });
    state.units.addTo(map);
    if (body.overview && unitZoom > 0) {
      /* below the zoom the units are legible at, their committees carry the result */
      var parents = byCode(body.overview);
      state.overview = tileLayer(body.overview.layer, function (p) {
        return L.extend({ fill: true }, unitStyle({ properties: parents[p.code] || p }));
      }, { pane: "units", maxZoom: unitZoom - 1, interactive: true });
      state.overview.on("click", function (e) { openUnit(parents, e.layer.properties.code, e.latlng); });
      state.overview.on("load", function () {
        state.tileLoads += 1;
        document.body.setAttribute("data-coverage-tiles", String(state.tileLoads));
      });
      state.overview.addTo(map);
    }
  }
  function openUnit(props, code, latlng) {
    var p = props[code];
    if (p) L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(popup(p)).openOn(map);
  }
  function selectTiled(code) {
    var before = state.selected, p = state.props[code], box = state.bbox[code];
    if (!p) return;
    state.selected = code;
    if (before && state.props[before]) state.units.setFeatureStyle(before, L.extend({ fill: true }, unitStyle({ properties: state.props[before] })));
    state.units.setFeatureStyle(code, L.extend({ fill: true }, unitStyle({ properties: p })));
    if (box) {
      var bounds = L.latLngBounds([box[1], box[0]], [box[3], box[2]]);
      map.fitBounds(bounds, { maxZoom: 16, padding: [60, 60] });
      L.popup({ maxWidth: 320 }).setLatLng(bounds.getCenter()).setContent(popup(p)).openOn(map);
    }
  }

  /* -- the form ----------------------------------------------------------------------------------- */
  function presetOf(key) { return presets.filter(function (p) { return p.key === key; })[0] || null; }
  function requirementsOf(preset) {
    /* a preset's requirements as [[kind, metres], ...] (a list of objects or a kind → metres mapping) */
    var req = preset && preset.requirements;
    if (!req) return [];
    if (Array.isArray(req)) {
      return req.map(function (r) { return Array.isArray(r) ? r : [r.category || r.kind || r.key, r.radius_m || r.distance_m || r.radius]; });
    }
    return Object.keys(req).map(function (k) { return [k, req[k]]; });
  }
  function currentRequirements() {
    return Array.prototype.map.call(document.querySelectorAll("#gm-cov-reqs input"), function (el) {
      return [el.getAttribute("data-kind"), el.value];
    });
  }
  function showRequirements(preset) {
    var reqs = requirementsOf(preset), box = $("gm-cov-reqs"), body = $("gm-cov-reqs-body");
    body.textContent = "";
    reqs.forEach(function (r) {
      var id = "gm-req-" + r[0];
      body.appendChild(node("tr", {}, [
        node("td", {}, [node("label", { "for": id, text: catName(r[0]) })]),
        node("td", {}, [node("input", { id: id, type: "number", min: "1", max: String(cfg.max_radius), step: "1",
                                        value: String(r[1]), "data-kind": r[0], cls: "form-control form-control-sm",
                                        required: "required" })])]));
    });
    box.classList.toggle("d-none", !reqs.length);
    $("gm-cov-single").classList.toggle("d-none", !!reqs.length);
    drawStandards(preset);
  }
  function drawStandards(preset) {
    /* the standards behind a preset, in the page's language, folded away under one line */
    var box = $("gm-cov-standard"), list = (preset && preset.standards) || [];
    box.textContent = "";
    if (!list.length) return;
    var details = node("details", {}, [node("summary", { text: T.standards + " · " + list.map(function (s) {
      return s.gridmap_choice ? T.gridmap_choice : s.document.split("《")[0];
    }).filter(function (v, i, a) { return a.indexOf(v) === i; }).join(T.list_sep) })]);
    list.forEach(function (s) {
      /* gridmap's own entries are named by their rule; a document by its number and clause */
      var head = s.gridmap_choice ? T.gridmap_choice + (cfg.lang === "en" ? "" : " · " + s.clause)
                                  : s.document + " " + s.clause;
      details.appendChild(node("p", { cls: "mb-1" }, [node("b", { text: head }), node("br"),
                                                       cfg.lang === "en" ? s.en : s.zh]));
    });
    box.appendChild(details);
  }
  function query() {
    var p = new URLSearchParams();
    var reqs = currentRequirements();
    if (reqs.length) {
      reqs.forEach(function (r) { p.append("require", r[0] + ":" + r[1]); });
      var preset = $("gm-cov-preset").value;
      if (preset) p.set("preset", preset);
    } else {
      form.querySelectorAll("input[name=category]:checked").forEach(function (el) { p.append("category", el.value); });
      p.set("radius", form.radius.value);
    }
    p.set("mode", form.querySelector("input[name=mode]:checked").value);
    p.set("target", form.target.value);
    return p;
  }
  function showError(msg) { var el = $("gm-cov-error"); el.textContent = msg || ""; el.classList.toggle("d-none", !msg); }

  /* -- drawing one result -------------------------------------------------------------------------- */
  function popup(p) {
    var d = node("div", {}, [node("b", { text: p.name + " (" + p.code + ")" })]);
    var lines = [[T.coverage_pct, pct(p.residents_pct)], [T.uncovered, num(p.residents_uncovered, 0)],
                 [T.area, pct(p.area_pct)], [T.distance, metres(p.dist_mean_m) + " / " + metres(p.dist_p90_m)]];
    if (p.spaces_per_100_households !== undefined) lines.push([T.spaces, num(p.spaces_per_100_households, 1)]);
    Object.keys(cats).forEach(function (k) {
      if (p["pct_" + k] !== undefined) lines.push([catName(k) + " · " + T.coverage_pct, pct(p["pct_" + k])]);
    });
    if (state.rule === "all" && p.missing && p.missing.length) lines.push([T.missing, p.missing.map(catName).join(T.list_sep)]);
    lines.forEach(function (r) { d.appendChild(node("div", { text: r[0] + ": " + r[1] })); });
    return d;
  }
  function clearResult() {
    /* a new run starts from a clean map: no selection, no popup, no old layers */
    state.selected = null;
    map.closePopup();
    ["units", "overview", "service", "facilities"].forEach(function (k) { if (state[k]) { map.removeLayer(state[k]); state[k] = null; } });
    state.byCode = {};
    state.props = {};
  }
  function drawFacilities(fc) {
    if (!fc || !fc.features) return;
    state.facilities = L.geoJSON(fc, {
      pointToLayer: function (f, ll) {
        var c = cats[f.properties.category] || {};
        return L.circleMarker(ll, { pane: "facilities", radius: 5, weight: 1, color: "#fff", fillColor: c.color || "#555",
                                    fillOpacity: 0.95, renderer: state.tiled && svgMarkers ? svgMarkers : undefined });
      },
      onEachFeature: function (f, layer) {
        var p = f.properties, text = catName(p.category) + ": " + p.name;
        if (p.capacity !== null && p.capacity !== undefined) text += " (" + T.capacity + " " + num(p.capacity, 0) + ")";
        layer.bindTooltip(node("span", { text: text }));  /* a text node: names are never markup */
      }
    }).addTo(map);
  }
  function select(code) {
    if (state.tiled) { selectTiled(code); scrollToMap(); markRow(code); return; }
    var layer = state.byCode[code];
    if (!layer) return;
    var before = state.selected;
    state.selected = code;
    if (before && state.byCode[before]) state.byCode[before].setStyle(unitStyle(state.byCode[before].feature));
    layer.setStyle(unitStyle(layer.feature));
    map.fitBounds(layer.getBounds(), { maxZoom: 16, padding: [60, 60] });
    scrollToMap();
    layer.openPopup();
    markRow(code);
  }
  function scrollToMap() {
    /* on a phone the map sits above the list: bring it into view */
    if (window.matchMedia("(max-width: 767.98px)").matches) $("gm-cov-map").scrollIntoView({ block: "start" });
  }
  function markRow(code) {
    document.querySelectorAll("#gm-cov-under tr").forEach(function (tr) {
      tr.classList.toggle("table-active", tr.getAttribute("data-code") === code);
    });
  }
  function kpi(label, value, id) {
    return node("div", {}, [label, node("br"), node("b", { id: id, text: value })]);
  }
  function drawSummary(body) {
    var s = body.summary, box = $("gm-cov-kpis");
    box.textContent = "";
    box.appendChild(kpi(T.coverage_pct, pct(s.residents_pct), "kpi-res"));
    box.appendChild(kpi(T.uncovered, num(s.residents_uncovered, 0), "kpi-unc"));
    box.appendChild(kpi(T.area, pct(s.area_pct), "kpi-area"));
    box.appendChild(kpi(T.distance, metres(s.dist_mean_m) + " / " + metres(s.dist_p90_m), "kpi-dist"));
    box.appendChild(kpi(T.facilities, num(s.facilities, 0), "kpi-fac"));
    box.appendChild(kpi(T.underserved, num(body.underserved_count, 0), "kpi-under"));
    if (s.spaces_per_100_households !== undefined) {
      box.appendChild(kpi(T.spaces, num(s.spaces_per_100_households, 1), "kpi-spaces"));
      box.appendChild(kpi(T.capacity, num(s.capacity, 0), "kpi-cap"));
    }
    $("gm-cov-label").textContent = label(body);
    drawKinds(body.kinds || []);
    $("gm-cov-summary").classList.remove("d-none");
  }
  function drawKinds(kinds) {
    /* each required kind: its distance, the city's share within it and how many grids lack it */
    var tbody = $("gm-cov-kinds-body");
    tbody.textContent = "";
    kinds.forEach(function (k) {
      tbody.appendChild(node("tr", { "data-kind": k.category }, [
        node("td", {}, [swatch({ background: (cats[k.category] || {}).color || "#555", borderRadius: "50%" }), catName(k.category)]),
        node("td", { cls: "text-end", text: metres(k.distance_m) }),
        node("td", { cls: "text-end", text: pct(k.residents_pct) }),
        node("td", { cls: "text-end", text: num(k.units_missing, 0) })]));
    });
    $("gm-cov-kinds").classList.toggle("d-none", !kinds.length);
  }
  function label(body) { var p = body.parameters || {}; return (cfg.lang === "en" ? p.label_en : p.label_zh) || ""; }
  function drawUnderserved(body) {
    /* per kind ("all of"), each grid names the kinds it lacks on a line under its name */
    var tbody = $("gm-cov-under"), perKind = (body.parameters || {}).rule === "all";
    $("gm-cov-ucount").textContent = body.underserved_count;
    tbody.textContent = "";
    body.underserved.slice(0, 200).forEach(function (g) {
      var tr = node("tr", { "data-code": g.code }, [node("td", { text: g.name + " · " + g.committee_name })]);
      [num(g.residents, 0), num(g.residents_uncovered, 0), pct(g.residents_pct)].forEach(function (v) {
        tr.appendChild(node("td", { text: v, cls: "text-end" }));
      });
      tr.addEventListener("click", function () { select(g.code); });
      tbody.appendChild(tr);
      if (perKind && g.missing && g.missing.length) {
        tr.className = "gm-cov-has-missing";
        var more = node("tr", { cls: "gm-cov-missing-row" }, [node("td", {
          colspan: "4", cls: "gm-cov-missing", text: T.missing + ": " + g.missing.map(catName).join(T.list_sep) })]);
        more.addEventListener("click", function () { select(g.code); });
        tbody.appendChild(more);
      }
    });
    if (!body.underserved.length) {
      tbody.appendChild(node("tr", {}, [node("td", { colspan: "4", text: T.none })]));
    }
  }
  function snapshot(body) {
    /* what a comparison needs from one run: its label, its summary and each grid's verdict */
    var verdicts = {}, units = body.tiled ? Object.keys(state.props).map(function (k) { return state.props[k]; })
                                          : body.units.features.map(function (f) { return f.properties; });
    units.forEach(function (p) {
      verdicts[p.code] = { below: !!p.below_target, name: p.name, missing: p.missing || [] };
    });
    return { label: label(body), summary: body.summary, count: body.underserved_count, verdicts: verdicts,
             query: state.lastQuery };
  }
  function drawComparison() {
    var box = $("gm-cov-compare"), a = state.pinned, b = state.current;
    $("gm-cov-unpin").classList.toggle("d-none", !a);
    if (!a || !b) { box.classList.add("d-none"); return; }
    box.classList.remove("d-none");
    $("gm-cov-cmp-a").textContent = T.run_a + " · " + a.label;
    $("gm-cov-cmp-b").textContent = T.run_b + " · " + b.label;
    var rows = [[T.coverage_pct, "residents_pct", pct, 1], [T.uncovered, "residents_uncovered", function (v) { return num(v, 0); }, -1],
                [T.area, "area_pct", pct, 1], [T.dist_mean, "dist_mean_m", metres, -1], [T.facilities, "facilities", function (v) { return num(v, 0); }, 1]];
    if (a.summary.spaces_per_100_households !== undefined || b.summary.spaces_per_100_households !== undefined) {
      rows.push([T.spaces, "spaces_per_100_households", function (v) { return num(v, 1); }, 1]);
    }
    var tbody = $("gm-cov-cmp-body");
    tbody.textContent = "";
    function add(name, va, vb, f, better) {
      var d = (va === null || va === undefined || vb === null || vb === undefined) ? null : vb - va;
      var cls = d === null || Math.abs(d) < 1e-9 ? "" : (d * better > 0 ? "text-success" : "text-danger");
      tbody.appendChild(node("tr", {}, [node("td", { text: name }), node("td", { cls: "text-end", text: f(va) }),
        node("td", { cls: "text-end", text: f(vb) }),
        node("td", { cls: "text-end " + cls, text: d === null ? "–" : (d > 0 ? "+" : "") + num(d, 1) })]));
    }
    rows.forEach(function (r) { add(r[0], a.summary[r[1]], b.summary[r[1]], r[2], r[3]); });
    add(T.underserved, a.count, b.count, function (v) { return num(v, 0); }, -1);
    var better = [], worse = [];
    Object.keys(b.verdicts).forEach(function (code) {
      var va = a.verdicts[code], vb = b.verdicts[code];
      if (!va || va.below === vb.below) return;
      (vb.below ? worse : better).push({ code: code, name: vb.name, missing: vb.below ? vb.missing : va.missing });
    });
    var list = $("gm-cov-changed");
    list.textContent = "";
    $("gm-cov-changed-count").textContent = better.length + worse.length;
    [[better, T.now_met, "text-success"], [worse, T.now_below, "text-danger"]].forEach(function (grp) {
      grp[0].slice(0, 100).forEach(function (g) {
        var li = node("li", { "data-code": g.code, cls: "gm-cov-changed-item" }, [
          node("span", { cls: grp[2], text: grp[1] }), " " + g.name + " (" + g.code + ")"]);
        if (g.missing.length) {
          li.appendChild(node("span", { cls: "text-muted", text: " · " + (grp[0] === better ? T.was_missing : T.missing) + ": " +
                                                             g.missing.map(catName).join(T.list_sep) }));
        }
        li.addEventListener("click", function () { select(g.code); });
        list.appendChild(li);
      });
    });
    if (!better.length && !worse.length) list.appendChild(node("li", { cls: "text-muted", text: T.no_change }));
  }

  /* -- running ------------------------------------------------------------------------------------ */
  function run(ev) {
    if (ev) ev.preventDefault();
    var p = query(), seq = ++state.seq;
    $("gm-cov-status").textContent = T.working;
    $("gm-cov-run").disabled = true;
    var ready = tiles ? loadVectorGrid() : Promise.resolve();
    ready.then(function () {
      return fetch("/api/v1/coverage/map?" + p.toString() + (tiles ? "&units=table" : ""),
                   { headers: { Accept: "application/json" } });
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (seq !== state.seq) return;  /* a later run is on its way */
      $("gm-cov-status").textContent = "";
      $("gm-cov-run").disabled = false;
      if (!res.ok) { showError(res.body.error || T.error); return; }
      showError("");
      var body = res.body;
      clearResult();
      state.lastQuery = p.toString();
      state.rule = (body.parameters || {}).rule;
      state.tiled = !!body.tiled;
      if (state.tiled) {
        drawTiled(body);
      } else {
        state.units = L.geoJSON(body.units, {
          style: unitStyle,
          onEachFeature: function (f, layer) { state.byCode[f.properties.code] = layer; layer.bindPopup(function () { return popup(f.properties); }); }
        }).addTo(map);
      }
      if (body.service_area) {
        state.service = L.geoJSON(body.service_area, { style: { color: "#08519c", weight: 1.5, fill: true, fillOpacity: 0.08 },
                                                      interactive: false }).addTo(map);
      }
      drawFacilities(body.facilities);
      var kinds = (body.parameters && body.parameters.categories) || [];
      drawLegend(kinds);
      if (state.tiled) { if (cfg.bounds) map.fitBounds(cfg.bounds); }
      else if (state.units.getLayers().length) map.fitBounds(state.units.getBounds());
      drawSummary(body);
      drawUnderserved(body);
      document.querySelectorAll("#gm-cov-downloads a").forEach(function (a) {
        a.href = "/api/v1/coverage/export." + a.getAttribute("data-format") + "?" + p.toString();
      });
      $("gm-cov-downloads").classList.remove("d-none");
      $("gm-cov-pin").classList.remove("d-none");
      state.current = snapshot(body);
      drawComparison();
      state.runs += 1;
      document.body.setAttribute("data-coverage-runs", String(state.runs));
    }).catch(function (e) {
      if (seq !== state.seq) return;
      $("gm-cov-status").textContent = "";
      $("gm-cov-run").disabled = false;
      showError(String(e));
    });
  }
  $("gm-cov-preset").addEventListener("change", function () {
    var preset = presetOf(this.value);
    showRequirements(preset);
    if (!preset) return;
    var reqs = requirementsOf(preset);
    var kinds = reqs.length ? reqs.map(function (r) { return r[0]; }) : preset.categories;
    form.querySelectorAll("input[name=category]").forEach(function (el) { el.checked = kinds.indexOf(el.value) >= 0; });
    var radius = preset.radii && preset.radii.length ? preset.radii[preset.radii.length - 1] : form.radius.value;
    form.radius.value = radius;
    var target = reqs.length ? preset.kind_target_pct : (preset.targets || {})[String(radius)];
    form.target.value = target === undefined || target === null ? "" : target;
    run();
  });
  $("gm-cov-pin").addEventListener("click", function () {
    if (!state.current) return;
    state.pinned = state.current;
    $("gm-cov-pinned").textContent = T.run_a + " · " + state.pinned.label;
    $("gm-cov-pinned").classList.remove("d-none");
    drawComparison();
  });
  $("gm-cov-unpin").addEventListener("click", function () {
    state.pinned = null;
    $("gm-cov-pinned").classList.add("d-none");
    drawComparison();
  });
  form.addEventListener("submit", run);
  document.body.setAttribute("data-gridmap-ready", "");
  run();
})();
