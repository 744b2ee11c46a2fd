/* gridmap event detail: a small map with the event's point (in the basemap's datum) and the grid outlines. */
(function () {
  "use strict";
  var el = document.getElementById("gm-ev-map");
  var cfg = JSON.parse(el.getAttribute("data-config"));
  var map = L.map(el, { zoomControl: true, maxZoom: 19 });
  (cfg.tiles || []).forEach(function (tile) {
    L.tileLayer(tile.url, { attribution: tile.attr, subdomains: tile.subdomains || "abc",
                            maxZoom: tile.max_zoom || 18 }).addTo(map);
  });
  map.setView(cfg.point, 16);
  fetch(cfg.outlines).then(function (r) { return r.json(); }).then(function (data) {
    L.geoJSON(data, { interactive: false,
                      style: { color: "#1f3a5f", weight: 1, fillColor: "#8fb3d9", fillOpacity: 0.06 } }).addTo(map);
    document.body.setAttribute("data-outlines", "1");
  }).catch(function () { /* the point alone */ });
  L.circleMarker(cfg.point, { radius: 9, color: "#b00020", weight: 3, fillColor: "#ff5a5f", fillOpacity: 0.8 }).addTo(map);
  document.body.setAttribute("data-gridmap-ready", "1");
})();
