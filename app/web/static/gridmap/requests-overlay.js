/* gridmap coverage page: overlay the "add a facility" requests (公共服务诉求) on the map, marking those in
 * underserved grids. Loaded after coverage.js (window.gridmapCoverage = {map, state}); a toggle on the map. */
(function () {
  "use strict";
  var cfgNode = document.getElementById("gm-events-layer-config"), cov = window.gridmapCoverage;
  if (!cfgNode || !cov) return;
  var cfg = JSON.parse(cfgNode.textContent), s = cfg.strings, map = cov.map;
  var group = L.layerGroup(), points = null, markers = [], countEl = null;

  function underserved(code) {
    // the tiled page keeps each unit's values in state.props; the GeoJSON page keeps its layers in state.byCode
    var st = cov.state, layer = st.byCode && st.byCode[code];
    var p = (st.props && st.props[code]) || (layer && layer.feature && layer.feature.properties);
    return !!(p && p.below_target);
  }

  function restyle() {
    var under = 0;
    markers.forEach(function (mk) {
      var bad = underserved(mk.evGrid);
      if (bad) under++;
      mk.setStyle({ radius: bad ? 9 : 6, fillColor: bad ? "#b00020" : "#5c6f82", color: "#ffffff",
                    weight: bad ? 2 : 1, fillOpacity: 0.9 });
      mk.evUnder = bad;
    });
    if (countEl) {
      countEl.textContent = points ? points.events.length + " · " + s.requestsUnder + " " + under : "";
    }
    document.body.setAttribute("data-requests-under", String(under));
  }

  function popup(p) {
    var box = document.createElement("div"), title = document.createElement("div"), line = document.createElement("div");
    box.className = "gm-popup";
    title.className = "gm-popup-title";
    title.textContent = p.category_name + " · " + p.id;
    line.textContent = s.grid + " " + p.grid_code + " · " + p.status_name + " · " + p.reported_on +
      (underserved(p.grid_code) ? " · " + s.requestsUnder : "");
    box.appendChild(title);
    box.appendChild(line);
    return box;
  }

  function load() {
    if (points) { restyle(); return; }
    var url = new URL(cfg.requestsUrl, window.location.href);
    url.searchParams.set("datum", cfg.datum);
    url.searchParams.append("status", "open");
    url.searchParams.append("status", "closed");
    fetch(url.toString(), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (body) {
      points = body;
      markers = body.events.map(function (p) {
        var mk = L.circleMarker([p.lat, p.lon], { radius: 6 });
        mk.evGrid = p.grid_code;
        mk.bindPopup(function () { return popup(p); });
        group.addLayer(mk);
        return mk;
      });
      restyle();
      document.body.setAttribute("data-requests-loaded", String(markers.length));
    }).catch(function (err) {
      if (countEl) countEl.textContent = s.failed;
      if (window.console) console.warn(s.failed, err);
    });
  }

  var Toggle = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var box = L.DomUtil.create("div", "leaflet-bar gm-ev-toggle");
      box.style.background = "#fff";
      box.style.padding = "4px 8px";
      box.style.fontSize = "13px";
      L.DomEvent.disableClickPropagation(box);
      var label = document.createElement("label"), input = document.createElement("input");
      input.type = "checkbox";
      input.id = "gm-ev-requests";
      input.style.marginRight = "4px";
      label.appendChild(input);
      label.appendChild(document.createTextNode(s.requests));
      countEl = document.createElement("div");
      countEl.className = "small text-muted";
      countEl.id = "gm-ev-requests-count";
      box.appendChild(label);
      box.appendChild(countEl);
      input.addEventListener("change", function () {
        if (input.checked) { group.addTo(map); load(); } else { map.removeLayer(group); }
      });
      return box;
    }
  });
  new Toggle().addTo(map);
  // a new analysis changes which grids are underserved: restyle when its count changes
  var ucount = document.getElementById("gm-cov-ucount");
  if (ucount && window.MutationObserver) {
    new MutationObserver(function () { if (points) restyle(); })
      .observe(ucount, { childList: true, characterData: true, subtree: true });
  }
})();
