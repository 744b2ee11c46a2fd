/* gridmap locate page: search an address or coordinates, or click the map, and show the grid. */
(function () {
  "use strict";
  var el = document.getElementById("gm-locate-map");
  var cfg = JSON.parse(el.getAttribute("data-config"));
  var T = cfg.text;
  var map = L.map(el, { zoomControl: true, maxZoom: 19 });
  var layerByCode = {};
  var outlines = null;
  var marker = null;
  var highlighted = null;

  (cfg.tiles || []).concat(cfg.overlays || []).forEach(function (tile) {
    L.tileLayer(tile.url, { attribution: tile.attr, subdomains: tile.subdomains || "abc",
                            maxZoom: tile.max_zoom || 18 }).addTo(map);
  });
  L.control.scale({ imperial: false }).addTo(map);
  /* start on the city's grids (the outlines refine it once loaded); the whole world when there are none */
  if (cfg.bounds) { map.fitBounds(cfg.bounds); } else { map.setView([0, 0], 2); }

  /* Points come back in WGS84; with a GCJ-02 basemap (AMap) the server adds "display" coordinates. */
  function display(obj) {
    var p = obj.display || obj;
    return L.latLng(p.lat, p.lon);
  }

  function node(tag, attrs, children) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") n.textContent = attrs[k]; else n.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) n.appendChild(c); });
    return n;
  }

  fetch(cfg.outlines).then(function (r) { return r.json(); }).then(function (data) {
    outlines = L.geoJSON(data, {
      style: { color: "#1f3a5f", weight: 1, fillColor: "#8fb3d9", fillOpacity: 0.08 },
      onEachFeature: function (f, layer) {
        layerByCode[f.properties.code] = layer;
        var tip = node("span", {}, [node("b", { text: f.properties.code }), node("br"),
                                    node("span", { text: f.properties.name })]);
        layer.bindTooltip(tip, { sticky: true });
      }
    }).addTo(map);
    map.fitBounds(outlines.getBounds());
  }).catch(function () { /* the page still works without outlines */ });

  var resultBox = document.getElementById("gm-result");
  var resultBody = document.getElementById("gm-result-body");

  /* On a phone the side panel scrolls: bring the top of a new result (or of a chosen grid) into view. */
  function reveal(elem) {
    var box = elem || resultBox;
    var side = box.closest(".gm-locate-side");
    if (!side) return;
    var s = side.getBoundingClientRect(), r = box.getBoundingClientRect();
    if (r.top < s.top || r.top > s.bottom - 60) side.scrollTop += r.top - s.top - 8;
  }

  function showError(message) {
    resultBox.classList.remove("d-none");
    resultBody.replaceChildren(node("div", { "class": "alert alert-danger py-1 px-2 mb-0", role: "alert" },
      [node("b", { text: T.error + "：" }), node("span", { text: message })]));
  }

  function highlight(code) {
    if (highlighted) { highlighted.setStyle({ color: "#1f3a5f", weight: 1, fillOpacity: 0.08 }); }
    highlighted = code ? layerByCode[code] : null;
    if (highlighted) {
      highlighted.setStyle({ color: "#b5302a", weight: 3, fillOpacity: 0.25 });
      highlighted.bringToFront();
    }
  }

  function place(latlng, zoom) {
    if (marker) marker.remove();
    marker = L.circleMarker(latlng, { radius: 7, color: "#fff", weight: 2, fillColor: "#b5302a", fillOpacity: 1 })
      .addTo(map);
    map.setView(latlng, Math.max(map.getZoom(), zoom || 15));
  }

  function gridBlock(grid) {
    if (!grid || !grid.code) return null;
    var rows = [
      [T.grid, node("span", {}, [node("span", { text: grid.name || "" }), node("br"),
        node("span", { "class": "gm-grid-code", text: grid.code })])],
      [T.committee, node("span", { text: grid.committee ? grid.committee.name + " (" + grid.committee.code + ")" : "" })],
      [T.division, node("span", { text: grid.division ? grid.division.name : "" })]
    ];
    if (grid.population !== undefined) rows.push([T.population, node("span", { text: grid.population + " " + T.people })]);
    if (grid.households !== undefined) rows.push([T.households, node("span", { text: grid.households + " " + T.hh })]);
    var staff;
    if (grid.staff) {
      staff = node("span", {}, ["leader", "worker", "instructor"].map(function (role) {
        var s = grid.staff[role] || {};
        return node("div", { text: T[role] + "：" + (s.name || "") + " " + (s.phone || "") });
      }));
    } else {
      staff = node("span", { "class": "gm-muted", text: T.staffHidden });
    }
    rows.push([T.staff, staff]);
    var dl = node("dl");
    rows.forEach(function (r) { dl.appendChild(node("dt", { text: r[0] })); dl.appendChild(node("dd", {}, [r[1]])); });
    var link = node("a", { href: cfg.gridPage.replace("CODE", encodeURIComponent(grid.code)),
                           "class": "btn btn-sm btn-outline-secondary mt-2", text: T.details });
    return node("div", {}, [dl, link]);
  }

  var addressMarker = null;

  function dropAddressMarker() {
    if (addressMarker) { addressMarker.remove(); addressMarker = null; }
  }

  /* The standard address nearest a point, as a line and a small marker on the map. */
  function nearestAddressBlock(near) {
    dropAddressMarker();
    if (!near) return node("div", { "class": "gm-muted small mt-1", id: "gm-nearest-address", text: T.nearestAddressNone });
    addressMarker = L.circleMarker(display(near), { radius: 5, color: "#1f3a5f", weight: 2, fillColor: "#fff",
                                                    fillOpacity: 1 }).addTo(map);
    addressMarker.bindTooltip(near.address);
    return node("div", { "class": "gm-nearest-address mt-1", id: "gm-nearest-address" }, [
      node("span", { "class": "gm-muted", text: T.nearestAddress + "：" }), node("b", { text: near.address }),
      node("span", { "class": "gm-muted", text: " " + fmt(T.distance, { m: Math.round(near.distance_m) }) })]);
  }

  function showPoint(ans, latlng) {
    resultBox.classList.remove("d-none");
    var parts = [];
    if (ans.status === "outside") {
      parts.push(node("div", { "class": "gm-note", text: T.outside }));
      if (ans.nearest) {
        parts.push(node("div", { text: T.nearest + "：" + ans.nearest.name + " (" + ans.nearest.code + ")，" +
                                        Math.round(ans.nearest.distance_m) + " " + T.metres }));
      }
    }
    if (ans.on_border) parts.push(node("div", { "class": "gm-note", text: T.onBorder }));
    parts.push(nearestAddressBlock(ans.nearest_address));
    parts.push(gridBlock(ans.grid));
    parts.push(node("div", { "class": "gm-muted small mt-2",
      text: T.wgs84 + "：" + ans.wgs84.lon.toFixed(6) + ", " + ans.wgs84.lat.toFixed(6) }));
    resultBody.replaceChildren.apply(resultBody, parts.filter(Boolean));
    reveal();
    highlight(ans.grid.code || (ans.nearest && ans.nearest.code));
    place(latlng || display(ans.display ? ans : ans.wgs84));
  }

  /* An ambiguous answer's candidate, chosen: its grid (with committee and staff) under the list. */
  function chooseCandidate(c, tr, box) {
    Array.prototype.forEach.call(tr.parentNode.children, function (row) { row.classList.remove("table-active"); });
    tr.classList.add("table-active");
    highlight(c.grid_code);
    place(display(c), 16);
    request(cfg.point, { lon: c.lon, lat: c.lat, crs: "4326" }).then(function (ans) {
      box.replaceChildren(node("div", { "class": "gm-muted small mb-1", text: T.chosen + "：" + c.address }),
                          gridBlock(ans.grid));
      reveal(box);
    }).catch(function (e) { showError(e.message); });
  }

  function showAddress(ans) {
    resultBox.classList.remove("d-none");
    dropAddressMarker();
    var parts = [];
    var typed = ans.query.address;
    if (ans.status === "ok") {
      parts.push(node("div", { "class": "gm-matched mb-1", id: "gm-matched" }, [
        node("span", { "class": "gm-muted", text: T.matched + "：" }), node("b", { text: ans.matched_address }),
        node("span", { "class": "badge gm-kind gm-kind-" + ans.match_kind, text: T["kind_" + ans.match_kind] || ans.match_kind })]));
      if (ans.match_kind === "fuzzy") {
        parts.push(node("div", { "class": "gm-note gm-fuzzy", id: "gm-fuzzy",
          text: fmt(T.fuzzyNote, { typed: typed, matched: ans.matched_address, score: Math.round(ans.score) }) }));
      }
    } else if (ans.status === "ambiguous") {
      parts.push(node("div", { "class": "gm-note", id: "gm-ambiguous", text: fmt(T.ambiguous, { typed: typed }) }));
    } else {
      parts.push(node("div", { "class": "gm-note", id: "gm-not-found", text: fmt(T.notFoundTyped, { typed: typed }) }));
    }
    parts.push(gridBlock(ans.grid));
    var choice = node("div", { "class": "gm-choice mt-2", id: "gm-choice" });
    if (ans.candidates.length) {
      var tbody = node("tbody");
      var pick = ans.status === "ambiguous";
      ans.candidates.forEach(function (c, i) {
        var gridCell = node("td", {}, [node("span", { text: c.grid_name || "" }), node("br"),
                                       node("span", { "class": "gm-grid-code", text: c.grid_code })]);
        var tr = node("tr", { "data-idx": String(i) }, [node("td", { text: c.address }), gridCell,
                                                         node("td", { text: String(Math.round(c.score)) })]);
        tr.addEventListener("click", function () {
          if (pick) { chooseCandidate(c, tr, choice); } else { highlight(c.grid_code); place(display(c), 16); }
        });
        tbody.appendChild(tr);
      });
      var title = pick ? T.chooseCandidate : (ans.status === "ok" ? T.candidates : T.suggestions);
      parts.push(node("h3", { "class": "h6 mt-3 mb-1", text: title }));
      parts.push(node("table", { "class": "table table-sm mb-0", id: "gm-candidates" }, [
        node("thead", {}, [node("tr", {}, [node("th", { text: T.address }),
          node("th", { text: T.grid }), node("th", { text: T.score })])]), tbody]));
      if (pick) parts.push(choice);
    }
    resultBody.replaceChildren.apply(resultBody, parts.filter(Boolean));
    reveal();
    var best = ans.status === "ok" ? ans.candidates[0] : null;
    highlight(best ? best.grid_code : null);
    if (best) { place(display(best), 16); } else if (marker) { marker.remove(); marker = null; }  /* no stale point */
  }

  function request(url, params) {
    var qs = Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
    if (cfg.datum !== "wgs84") qs += "&display=" + encodeURIComponent(cfg.datum);
    qs += "&lang=" + encodeURIComponent(cfg.lang);
    return fetch(url + "?" + qs, { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        return body;
      });
    });
  }

  function lookupPoint(x, y, crs, latlng) {
    return request(cfg.point, { lon: x, lat: y, crs: crs }).then(function (ans) { showPoint(ans, latlng); })
      .catch(function (e) { showError(e.message); });
  }

  var NUM = "[-+]?\\d+(?:\\.\\d+)?";
  var PAIR = new RegExp("^\\s*(" + NUM + ")\\s*[,，;；\\s]\\s*(" + NUM + ")\\s*$");

  document.getElementById("gm-locate-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = document.getElementById("gm-q").value;
    var crs = document.getElementById("gm-crs").value;
    var m = PAIR.exec(q);
    if (m) {
      var a = parseFloat(m[1]), b = parseFloat(m[2]);
      var geographic = crs !== cfg.metricCrs;  /* the data's metric CRS takes x, y in metres */
      /* people paste "lat, lon" from some apps: take the value beyond ±90 as the longitude */
      if (geographic && Math.abs(a) <= 90 && Math.abs(b) > 90) { var tmp = a; a = b; b = tmp; }
      lookupPoint(a, b, crs, null);
    } else {
      request(cfg.address, { q: q }).then(showAddress).catch(function (e) { showError(e.message); });
    }
  });

  map.on("click", function (e) {
    var crs = cfg.datum === "gcj02" ? "gcj02" : "4326";
    lookupPoint(e.latlng.lng.toFixed(7), e.latlng.lat.toFixed(7), crs, e.latlng);
  });

  /* ---- batch: upload -> column mapping with a preview -> progress -> summary and download ---- */
  var B = {
    form: document.getElementById("gm-batch-form"), file: document.getElementById("gm-batch-file"),
    upload: document.getElementById("gm-batch-upload"), alert: document.getElementById("gm-batch-alert"),
    mapping: document.getElementById("gm-batch-mapping"), rows: document.getElementById("gm-batch-rows"),
    hint: document.getElementById("gm-batch-hint"), lon: document.getElementById("gm-batch-lon"),
    lat: document.getElementById("gm-batch-lat"), address: document.getElementById("gm-batch-address"),
    crs: document.getElementById("gm-batch-crs"), preview: document.getElementById("gm-batch-preview"),
    run: document.getElementById("gm-batch-run"), restart: document.getElementById("gm-batch-restart"),
    progress: document.getElementById("gm-batch-progress"), bar: document.getElementById("gm-batch-bar"),
    progressText: document.getElementById("gm-batch-progress-text"),
    summary: document.getElementById("gm-batch-summary"), total: document.getElementById("gm-batch-total"),
    counts: document.getElementById("gm-batch-counts"), problems: document.getElementById("gm-batch-problems"),
    format: document.getElementById("gm-batch-format"), download: document.getElementById("gm-batch-download")
  };
  var job = null;
  var downloadUrl = null;

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? String(values[k]) : m; });
  }
  function show(elem, on) { elem.classList.toggle("d-none", !on); }
  function batchError(message) {
    B.alert.textContent = message;
    show(B.alert, true);
  }
  function withLang(url) { return url + (url.indexOf("?") < 0 ? "?" : "&") + "lang=" + encodeURIComponent(cfg.lang); }

  /* Every answer is read as JSON; a refusal's message (in the page's language) goes into the page. */
  function api(url, options) {
    return fetch(withLang(url), Object.assign({ headers: { Accept: "application/json" } }, options || {}))
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (body) {
          if (!r.ok || !body) throw new Error((body && body.error) || (T.batchFailed + " (HTTP " + r.status + ")"));
          return body;
        });
      });
  }

  function fillSelect(select, columns, chosen) {
    var opts = [node("option", { value: "", text: T.batchNone })].concat(columns.map(function (c) {
      return node("option", { value: c, text: c });
    }));
    select.replaceChildren.apply(select, opts);
    select.value = chosen || "";
  }

  function markColumns() {
    var picked = [B.lon.value, B.lat.value, B.address.value];
    Array.prototype.forEach.call(B.preview.querySelectorAll("th[data-col]"), function (th) {
      th.classList.toggle("table-primary", picked.indexOf(th.getAttribute("data-col")) >= 0);
    });
  }

  function showMapping(p) {
    job = p.job;
    fillSelect(B.lon, p.columns, p.detected.lon);
    fillSelect(B.lat, p.columns, p.detected.lat);
    fillSelect(B.address, p.columns, p.detected.address);
    B.rows.textContent = fmt(T.batchRows, { name: p.filename, total: p.total, shown: p.rows.length });
    B.hint.textContent = p.mode === "none" ? T.batchUnrecognised : T.batchDetected;
    B.hint.className = "small mb-2 " + (p.mode === "none" ? "text-danger fw-semibold" : "gm-muted");
    var head = node("tr", {}, p.columns.map(function (c) { return node("th", { "data-col": c, text: c }); }));
    var body = node("tbody", {}, p.rows.map(function (row) {
      return node("tr", {}, row.map(function (v) { return node("td", { text: v }); }));
    }));
    B.preview.replaceChildren(node("thead", {}, [head]), body);
    markColumns();
    show(B.mapping, true);
  }

  [B.lon, B.lat, B.address].forEach(function (s) { s.addEventListener("change", markColumns); });

  function reset() {
    job = null;
    [B.alert, B.mapping, B.progress, B.summary].forEach(function (e) { show(e, false); });
    B.upload.disabled = false;
  }

  B.form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    reset();
    if (!B.file.files.length) { batchError(T.chooseFile); return; }
    var data = new FormData();
    data.append("file", B.file.files[0]);
    B.upload.disabled = true;
    B.progressText.textContent = T.batchReading;
    B.bar.style.width = "0%";
    show(B.progress, true);
    api(cfg.batchPreview, { method: "POST", body: data }).then(showMapping)
      .catch(function (e) { batchError(e.message); })
      .then(function () { B.upload.disabled = false; show(B.progress, false); });
  });

  B.restart.addEventListener("click", function () { reset(); B.file.value = ""; B.file.focus(); });

  function setProgress(done, total) {
    var pct = total ? Math.round(100 * done / total) : 0;
    B.bar.style.width = pct + "%";
    B.bar.parentNode.setAttribute("aria-valuenow", String(pct));
    B.progressText.textContent = fmt(T.batchProgress, { done: done, total: total });
  }

  function setDownload() {
    if (downloadUrl) B.download.setAttribute("href", withLang(downloadUrl + "?format=" + B.format.value));
  }
  B.format.addEventListener("change", setDownload);

  function showSummary(st) {
    show(B.progress, false);
    var s = st.summary;
    B.total.textContent = fmt(T.batchTotal, { total: s.total });
    B.counts.replaceChildren.apply(B.counts, ["ok", "ambiguous", "outside", "not_found", "invalid"].map(function (k) {
      return node("li", { "data-status": k }, [node("span", { "class": "gm-batch-count", text: String(s[k]) }),
        node("span", { text: " " + T["status_" + k] })]);
    }));
    var parts = [];
    if (!st.problems.length) {
      parts.push(node("p", { "class": "small text-success mb-1", text: T.batchNoProblems }));
    } else {
      var rows = st.problems.map(function (p) {
        var values = Object.keys(p.values).map(function (k) { return p.values[k]; }).filter(Boolean).join(", ");
        return node("tr", {}, [node("td", { text: String(p.row) }),
          node("td", { "class": "text-nowrap", text: T["status_" + p.status] || p.status }),
          node("td", { text: p.message || (p.nearest_grid_code ? T.nearest + "：" + p.nearest_grid_code + "，" +
            Math.round(p.distance_m) + " " + T.metres : "") }), node("td", { text: values })]);
      });
      parts.push(node("h4", { "class": "h6 small fw-semibold mb-1", text: fmt(T.batchProblems, { n: st.problems.length }) }));
      parts.push(node("div", { "class": "table-responsive" }, [node("table", { "class": "table table-sm small mb-1", id: "gm-batch-problem-table" }, [
        node("thead", {}, [node("tr", {}, [node("th", { "class": "text-nowrap", text: T.batchRow }),
          node("th", { "class": "text-nowrap", text: T.batchStatus }),
          node("th", { text: T.batchMessage }), node("th", { text: T.batchValues })])]),
        node("tbody", {}, rows)])]));
    }
    B.problems.replaceChildren.apply(B.problems, parts);
    downloadUrl = st.download_url;
    setDownload();
    show(B.summary, true);
  }

  function poll(url) {
    api(url).then(function (st) {
      setProgress(st.done, st.total);
      if (st.state === "running") { setTimeout(function () { poll(url); }, 400); return; }
      B.run.disabled = false;
      if (st.state === "failed") { show(B.progress, false); batchError(st.error); return; }
      showSummary(st);
    }).catch(function (e) { B.run.disabled = false; show(B.progress, false); batchError(e.message); });
  }

  B.run.addEventListener("click", function () {
    show(B.alert, false);
    show(B.summary, false);
    if (!(B.lon.value && B.lat.value) && !B.address.value) { batchError(T.batchNeedColumns); return; }
    var body = { job: job, lon_col: B.lon.value, lat_col: B.lat.value, address_col: B.address.value,
                 crs: B.crs.value };
    B.run.disabled = true;
    setProgress(0, 0);
    show(B.progress, true);
    api(cfg.batchRun, { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" },
                        body: JSON.stringify(body) })
      .then(function (st) { setProgress(st.done, st.total); poll(st.status_url); })
      .catch(function (e) { B.run.disabled = false; show(B.progress, false); batchError(e.message); });
  });
})();
