/* gridmap rebalancing page: ask for a proposal, draw the current grids and the proposal as two layers, list both. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("gm-rb-config").textContent);
  var T = cfg.text;
  var map = L.map("gm-rb-map", { preferCanvas: false, maxZoom: 19 });
  /* the phone drawer opened or closed over the map (nav.js): keep the view in the strip still visible */
  document.addEventListener("gm-drawer-move", function (e) { map.panBy([0, e.detail.dy], { animate: false }); });
  if (cfg.bounds) { map.fitBounds(cfg.bounds); } else { map.setView([0, 0], 2); }
  var state = { before: null, after: null, control: null, band: [300, 500], byCode: {} };
  window.gridmapRebalance = { map: map, state: state };
  function $(id) { return document.getElementById(id); }
  function node(tag, attrs, children) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") n.textContent = attrs[k]; else if (k === "cls") n.className = attrs[k]; else n.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return n;
  }
  function num(v, d) {
    if (v === null || v === undefined) return "–";
    return Number(v).toLocaleString(cfg.locale, { maximumFractionDigits: d === undefined ? 1 : d });
  }
  function fill(hh) { return hh < state.band[0] ? "#fdae61" : hh > state.band[1] ? "#d73027" : "#66bd63"; }
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "gm-rb-legend");
    [["#66bd63", T.legend_in], ["#fdae61", T.legend_low], ["#d73027", T.legend_high]].forEach(function (s) {
      var i = node("i"); i.style.background = s[0]; div.appendChild(node("div", {}, [i, s[1]]));
    });
    return div;
  };
  legend.addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  function layer(fc, dashed) {
    return L.geoJSON(fc, {
      style: function (f) { return { color: dashed ? "#555" : "#1d3557", weight: dashed ? 1 : 2, dashArray: dashed ? "4 3" : null,
                                     fillColor: fill(f.properties.households), fillOpacity: 0.55 }; },
      onEachFeature: function (f, l) {
        l.bindTooltip(String(f.properties.households), { permanent: true, direction: "center", className: "gm-rb-label" });
        l.bindPopup(f.properties.name + "<br>" + f.properties.code + "<br>" + num(f.properties.households, 0) + " / " + num(f.properties.residents, 0));
        state.byCode[f.properties.code] = l;
      }
    });
  }
  function draw(m) {
    [state.before, state.after].forEach(function (l) { if (l) map.removeLayer(l); });
    if (state.control) map.removeControl(state.control);
    state.byCode = {};
    state.before = layer(m.before, true);
    state.after = layer(m.after, false);
    var base = {}; base[T.before] = state.before; base[T.after] = state.after;
    state.control = L.control.layers(base, null, { collapsed: false, position: "topright" }).addTo(map);
    state.after.addTo(map);
    var b = state.after.getBounds();
    if (b.isValid()) map.fitBounds(b, { padding: [12, 12], animate: false });
  }
  function summary(s) {
    var rows = [["grids", "grids"], ["in_band", "in_band"], ["min", "min"], ["max", "max"], ["std", "std"], ["miss", "miss"]];
    var body = $("gm-rb-summary"); body.textContent = "";
    rows.forEach(function (r) {
      body.appendChild(node("tr", {}, [node("td", { text: T[r[0]] }), node("td", { cls: "text-end", text: num(s.before[r[1]]) }),
                                       node("td", { cls: "text-end", text: num(s.after[r[1]]) })]));
    });
    body.appendChild(node("tr", {}, [node("td", { text: T.moved }), node("td"), node("td", { cls: "text-end", text: num(s.moved_addresses, 0) })]));
    body.appendChild(node("tr", {}, [node("td", { text: T.seconds }), node("td"), node("td", { cls: "text-end", text: num(s.seconds, 1) })]));
  }
  function cell(v, inBand) {
    var td = node("td", { cls: "num", text: v === null ? "–" : num(v, 0) });
    if (v !== null && inBand !== null) td.className += inBand ? " gm-rb-ok" : " gm-rb-off";
    return td;
  }
  function rows(list) {
    var body = $("gm-rb-rows"); body.textContent = "";
    list.forEach(function (r) {
      var tr = node("tr", { "data-code": r.code, title: r.name }, [node("td", { text: r.code }),
        cell(r.households_before, r.in_band_before), cell(r.households_after, r.in_band_after),
        node("td", { cls: "num", text: r.residents_after === null ? "–" : num(r.residents_after, 0) }),
        node("td", { cls: "num", text: r.miss_after === null ? "–" : num(r.miss_after, 0) })]);
      tr.addEventListener("click", function () {
        var l = state.byCode[r.code]; if (l) { map.fitBounds(l.getBounds(), { maxZoom: 17 }); l.openPopup(); }
      });
      body.appendChild(tr);
    });
  }
  function query() {
    var scope = $("gm-rb-scope").value.split(":");
    return scope[0] + "=" + encodeURIComponent(scope[1]) + "&households=" + encodeURIComponent($("gm-rb-band").value.trim()) +
      ($("gm-rb-renumber").checked ? "&renumber=1" : "");
  }
  function run(ev) {
    if (ev) ev.preventDefault();
    var q = query();
    $("gm-rb-status").textContent = T.working;
    $("gm-rb-run").disabled = true;
    fetch("/api/v1/rebalance?" + q, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        $("gm-rb-run").disabled = false;
        if (!res.ok) { $("gm-rb-status").textContent = T.error + "：" + (res.body.error || ""); $("gm-rb-result").classList.add("d-none"); return; }
        var b = res.body;
        state.band = b.summary.band;
        $("gm-rb-status").textContent = "";
        $("gm-rb-result").classList.remove("d-none");
        var v = $("gm-rb-verdict");
        v.className = "alert py-2 px-2 mb-2 small " + (b.summary.met ? "alert-success" : "alert-warning");
        v.textContent = b.summary.met ? T.met : T.not_met;
        var ul = $("gm-rb-reasons"); ul.textContent = "";
        b.committees.forEach(function (c) { c.reasons.forEach(function (r) { ul.appendChild(node("li", { text: r.text })); }); });
        if (!ul.children.length && b.summary.units.indexOf("cells") < 0) ul.appendChild(node("li", { text: T.units }));
        summary(b.summary);
        rows(b.rows);
        draw(b.map);
        Array.prototype.forEach.call(document.querySelectorAll("#gm-rb-downloads a"), function (a) {
          a.href = "/api/v1/rebalance/export." + a.getAttribute("data-fmt") + "?" + q;
        });
        document.body.setAttribute("data-rebalanced", "1");
      })
      .catch(function () { $("gm-rb-run").disabled = false; $("gm-rb-status").textContent = T.error; });
  }
  $("gm-rb-form").addEventListener("submit", run);
  run();
})();
