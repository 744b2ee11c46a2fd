/* gridmap coverage page, recommendation panel: run the optimiser, draw the recommended sites and who they newly cover. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("gm-cov-config").textContent);
  var R = cfg.rec;
  var map = window.gridmapCoverage.map;
  var layer = L.layerGroup().addTo(map);
  var form = document.getElementById("gm-rec-form");
  var last = null;
  var palette = ["#6a1b9a", "#1565c0", "#2e7d32", "#c2185b", "#ef6c00"];

  function $(id) { return document.getElementById(id); }
  function td(text, cls) { var n = document.createElement("td"); n.textContent = text; if (cls) n.className = cls; return n; }
  function num(v, d) { return v === null || v === undefined ? "–" : Number(v).toLocaleString(cfg.locale, { maximumFractionDigits: d || 0 }); }
  function pct(v) { return v === null || v === undefined ? "–" : num(v, 1) + "%"; }
  function catName(k) { return (cfg.categories[k] || {}).label || k; }

  function toggleFile() {
    var file = $("gm-rec-candidates").value === "file";
    document.querySelectorAll(".gm-rec-file").forEach(function (n) { n.classList.toggle("d-none", !file); });
    $("gm-rec-spacing-box").classList.toggle("d-none", $("gm-rec-candidates").value !== "roads");
  }
  $("gm-rec-candidates").addEventListener("change", toggleFile);
  $("gm-rec-preset").addEventListener("change", function () {
    $("gm-rec-category").disabled = !!this.value;
    if (this.value) $("gm-rec-radius").value = "";
  });

  function body() {
    var fd = new FormData(form);
    if ($("gm-rec-preset").value) fd.delete("category");
    if ($("gm-rec-candidates").value !== "file") fd.delete("file");
    return fd;
  }

  var key = L.control({ position: "bottomleft" });
  var keyDiv = null;
  key.onAdd = function () { keyDiv = L.DomUtil.create("div", "gm-cov-legend"); return keyDiv; };
  function drawKey(res) {
    if (!keyDiv) key.addTo(map);
    keyDiv.textContent = "";
    res.kinds.forEach(function (k, i) {
      var row = document.createElement("div"), pin = document.createElement("i");
      pin.style.background = res.kinds.length > 1 ? palette[i % palette.length] : "#6a1b9a";
      pin.style.borderRadius = "50%"; pin.style.border = "2px solid #fff";
      row.appendChild(pin); row.appendChild(document.createTextNode(R.sites + (res.kinds.length > 1 ? " · " + catName(k.category) : "")));
      keyDiv.appendChild(row);
    });
    var row = document.createElement("div"), dot = document.createElement("i");
    dot.style.background = "#ff8f00"; dot.style.borderRadius = "50%";
    dot.style.width = "8px"; dot.style.height = "8px"; dot.style.margin = "0 7px 0 3px";
    row.appendChild(dot); row.appendChild(document.createTextNode(R.newly)); keyDiv.appendChild(row);
  }

  function draw(res) {
    layer.clearLayers();
    drawKey(res);
    var multi = res.kinds.length > 1;
    var colorOf = {};
    res.kinds.forEach(function (k, i) { colorOf[k.category] = palette[i % palette.length]; });
    (res.existing.features || []).forEach(function (f) {
      var c = f.geometry.coordinates;
      L.circleMarker([c[1], c[0]], { radius: 3, color: "#444", weight: 1, fillColor: "#888", fillOpacity: 0.9 })
        .bindTooltip(f.properties.name).addTo(layer);
    });
    var pts = [];
    res.geojson.features.forEach(function (f) {
      var c = f.geometry.coordinates, p = f.properties, col = colorOf[p.category];
      if (p.kind === "newly_covered") {
        L.circleMarker([c[1], c[0]], { radius: 2, stroke: false, fillColor: "#ff8f00", fillOpacity: 0.7 })
          .bindTooltip(R.newly + ": " + num(p.residents) + " · #" + p.site).addTo(layer);
      }
    });
    res.geojson.features.forEach(function (f) {
      var c = f.geometry.coordinates, p = f.properties, col = colorOf[p.category];
      if (p.kind !== "site") return;
      pts.push([c[1], c[0]]);
      var icon = L.divIcon({ className: "gm-rec-pin", html: String(p.rank), iconSize: [26, 26] });
      var m = L.marker([c[1], c[0]], { icon: icon, zIndexOffset: 1000, title: R.site + " " + p.rank });
      if (multi) m.on("add", function () { var el = m.getElement(); if (el) { el.style.background = col; el.style.boxShadow = "0 0 0 2px " + col; } });
      var html = "<b>" + R.site + " " + p.rank + (multi ? " · " + catName(p.category) : "") + "</b><br>" +
        (p.grid_name || "") + " · " + (p.committee_name || "") + "<br>" + R.new_res + ": <b>" + num(p.residents_new) + "</b><br>" +
        "<span class='text-muted'>" + p.lon.toFixed(6) + ", " + p.lat.toFixed(6) + "</span>";
      m.bindPopup(html).addTo(layer);
      p._marker = m;
    });
    if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.25), { maxZoom: 15 });
  }

  function tables(res) {
    $("gm-rec-label").textContent = cfg.lang === "en" ? res.parameters.label_en : res.parameters.label_zh;
    var kp = $("gm-rec-kpis"); kp.textContent = "";
    res.kinds.forEach(function (k) {
      var pre = res.kinds.length > 1 ? catName(k.category) + " · " : "";
      [[R.coverage, pct(k.pct_before), pct(k.pct_after)], [R.dist, num(k.dist_mean_before_m), num(k.dist_mean_after_m)],
       [R.below, num(k.grids_below_before), num(k.grids_below_after)], [R.sites, "", num(k.sites) + " (" + R["status." + k.status] + ")"]]
        .forEach(function (r) {
          if (r[1] === "–" && r[2] === "–") return;
          var tr = document.createElement("tr"); tr.appendChild(td(pre + r[0])); tr.appendChild(td(r[1], "text-end")); tr.appendChild(td(r[2], "text-end")); kp.appendChild(tr);
        });
    });
    var notes = $("gm-rec-notes"); notes.textContent = "";
    (res.notes || []).forEach(function (t) { var li = document.createElement("li"); li.textContent = t; notes.appendChild(li); });
    var st = $("gm-rec-sites"); st.textContent = "";
    res.geojson.features.forEach(function (f) {
      var p = f.properties; if (p.kind !== "site") return;
      var tr = document.createElement("tr"); tr.setAttribute("data-rank", p.rank);
      tr.appendChild(td(String(p.rank))); tr.appendChild(td((res.kinds.length > 1 ? catName(p.category) + " · " : "") + (p.grid_name || "")));
      tr.appendChild(td(num(p.residents_new), "text-end"));
      tr.addEventListener("click", function () {
        if (window.matchMedia("(max-width: 767.98px)").matches) $("gm-cov-map").scrollIntoView({ block: "start" });
        map.setView(p._marker.getLatLng(), 15); p._marker.openPopup();
      });
      st.appendChild(tr);
    });
    var ct = $("gm-rec-committees"); ct.textContent = "";
    res.rows.filter(function (r) { return r.newly_covered > 0; })
      .sort(function (a, b) { return b.newly_covered - a.newly_covered; }).slice(0, 15)
      .forEach(function (r) {
        var tr = document.createElement("tr");
        tr.appendChild(td((res.kinds.length > 1 ? catName(r.category) + " · " : "") + r.name));
        tr.appendChild(td(pct(r.pct_before), "text-end")); tr.appendChild(td(pct(r.pct_after), "text-end"));
        tr.appendChild(td("+" + num(r.newly_covered), "text-end")); ct.appendChild(tr);
      });
  }

  function fail(msg) { var e = $("gm-rec-error"); e.textContent = msg; e.classList.remove("d-none"); }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("gm-rec-error").classList.add("d-none");
    var started = Date.now(), status = $("gm-rec-status"), btn = $("gm-rec-run");
    btn.disabled = true;
    status.textContent = R.working;
    var stage = "";
    var tick = setInterval(function () {
      status.textContent = R.working + " " + (stage ? stage + " · " : "") + Math.round((Date.now() - started) / 1000) + " s";
    }, 300);
    last = body();
    function json(r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || "error"); return j; }); }
    function poll(j) {
      if (j.done) return j;
      if (j.stage) stage = j.stage;
      return new Promise(function (ok) { setTimeout(ok, 400); }).then(function () {
        return fetch("/api/v1/coverage/recommend/jobs/" + encodeURIComponent(j.job), { headers: { Accept: "application/json" } })
          .then(json).then(poll);
      });
    }
    fetch("/api/v1/coverage/recommend?async=1", { method: "POST", body: last, headers: { Accept: "application/json" } })
      .then(json).then(poll)
      .then(function (j) {
        var x = { j: j };
        draw(x.j); tables(x.j);
        $("gm-rec-result").classList.remove("d-none");
        status.textContent = num((Date.now() - started) / 1000, 1) + " s";
      })
      .catch(function (e) { status.textContent = ""; fail(e.message); })
      .finally(function () { clearInterval(tick); btn.disabled = false; });
  });

  document.querySelectorAll("#gm-rec-downloads button").forEach(function (b) {
    b.addEventListener("click", function () {
      var fmt = b.getAttribute("data-format");
      b.disabled = true;
      fetch("/api/v1/coverage/recommend/export." + fmt, { method: "POST", body: last || body() })
        .then(function (r) {
          if (!r.ok) return r.json().then(function (j) { throw new Error(j.error); });
          var name = (r.headers.get("Content-Disposition") || "").split("filename=")[1] || "recommend." + fmt;
          return r.blob().then(function (blob) {
            var a = document.createElement("a"); a.href = URL.createObjectURL(blob); a.download = name.replace(/"/g, "");
            document.body.appendChild(a); a.click(); a.remove();
          });
        })
        .catch(function (e) { fail(e.message); })
        .finally(function () { b.disabled = false; });
    });
  });
  toggleFile();
})();
