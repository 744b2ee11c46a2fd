/* gridmap report page: category, description, place (phone position, map tap or address), photos, captcha.
   One report_key per report, kept across retries, so a double tap or a retry never makes two events. */
(function () {
  "use strict";
  var form = document.getElementById("gm-ev-form");
  var el = document.getElementById("gm-ev-map");
  var cfg = JSON.parse(el.getAttribute("data-config"));
  var T = cfg.text;
  var where = document.getElementById("gm-ev-where");
  var errorBox = document.getElementById("gm-ev-error");
  var submit = document.getElementById("gm-ev-submit");
  var keyInput = document.getElementById("gm-ev-key");
  var lonInput = document.getElementById("gm-ev-lon");
  var latInput = document.getElementById("gm-ev-lat");
  var crsInput = document.getElementById("gm-ev-crs");
  var marker = null;
  var sending = false;

  function newKey() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return "r-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  keyInput.value = newKey();

  var map = L.map(el, { zoomControl: true, maxZoom: 19, attributionControl: true });
  (cfg.tiles || []).forEach(function (tile) {
    L.tileLayer(tile.url, { attribution: tile.attr, subdomains: tile.subdomains || "abc",
                            maxZoom: tile.max_zoom || 18 }).addTo(map);
  });
  if (cfg.bounds) { map.fitBounds(cfg.bounds); } else { map.setView([0, 0], 2); }
  fetch(cfg.outlines).then(function (r) { return r.json(); }).then(function (data) {
    L.geoJSON(data, { interactive: false,
                      style: { color: "#1f3a5f", weight: 1, fillColor: "#8fb3d9", fillOpacity: 0.06 } }).addTo(map);
    document.body.setAttribute("data-outlines", "1");
  }).catch(function () { /* the map still takes taps without outlines */ });

  function say(text, bad) {
    where.textContent = text;
    where.className = "small mb-1 " + (bad ? "text-danger" : "text-success");
  }
  function place(latlng, crs, text) {
    latInput.value = latlng.lat.toFixed(7);
    lonInput.value = latlng.lng.toFixed(7);
    crsInput.value = crs;
    if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng).addTo(map); }
    say(text + " (" + latlng.lat.toFixed(5) + ", " + latlng.lng.toFixed(5) + ")");
    document.body.setAttribute("data-placed", crs);
  }
  /* a tap is in the basemap's datum (GCJ-02 on AMap tiles); the phone's position is WGS84 */
  map.on("click", function (e) { place(e.latlng, cfg.datum === "gcj02" ? "gcj02" : "EPSG:4326", T.tapped); });

  document.getElementById("gm-ev-gps").addEventListener("click", function () {
    if (!navigator.geolocation) { say(T.no_geo, true); return; }
    say(T.locating);
    navigator.geolocation.getCurrentPosition(function (pos) {
      var ll = L.latLng(pos.coords.latitude, pos.coords.longitude);
      place(ll, "EPSG:4326", T.located);
      if (cfg.datum !== "gcj02") { map.setView(ll, Math.max(map.getZoom(), 16)); }
    }, function () { say(T.geo_denied, true); }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  var capImg = document.getElementById("gm-ev-captcha-img");
  var capToken = document.getElementById("gm-ev-captcha-token");
  var capAnswer = document.getElementById("gm-ev-captcha");
  function newCaptcha() {
    if (!capImg) { return; }
    fetch(cfg.captcha_url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (c) { capImg.src = c.image; capToken.value = c.token; capAnswer.value = "";
                           document.body.setAttribute("data-captcha", "1"); });
  }
  if (capImg) {
    newCaptcha();
    document.getElementById("gm-ev-captcha-new").addEventListener("click", newCaptcha);
  }

  function fail(text) {
    errorBox.textContent = text;
    errorBox.classList.remove("d-none");
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (sending) { return; }  /* a double tap sends once */
    errorBox.classList.add("d-none");
    var address = document.getElementById("gm-ev-address").value.trim();
    if (!lonInput.value && !address) { fail(T.need_place); return; }
    var picker = document.getElementById("gm-ev-photos");
    var most = parseInt(picker.getAttribute("data-max"), 10) || 4;
    var files = picker.files;
    var body = new FormData(form);
    if (lonInput.value) { body.delete("address"); }
    if (files && files.length > most) {  /* only the first photos the server takes */
      body.delete("photos");
      for (var i = 0; i < most; i++) { body.append("photos", files[i]); }
    }
    sending = true;
    submit.disabled = true;
    submit.textContent = T.sending;
    fetch(cfg.api, { method: "POST", body: body, credentials: "same-origin",
                     headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, status: r.status, body: j }; }); })
      .then(function (res) {
        if (res.ok) {
          document.body.setAttribute("data-reported", res.body.id);
          window.location.href = res.body.status_url + "?new=1";
          return;
        }
        fail(T.failed + ": " + (res.body.error || res.status));
        /* the same key is kept for a retry, unless the report was refused for its content */
        if (res.status === 400 || res.status === 422 || res.status === 413) { newCaptcha(); }
        done();
      })
      .catch(function () { fail(T.offline); done(); });
  });
  var label = submit.innerHTML;
  function done() {
    sending = false;
    submit.disabled = false;
    submit.innerHTML = label;
  }
  document.body.setAttribute("data-gridmap-ready", "1");
})();
