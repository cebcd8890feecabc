// OpenECS console: live regions and charts. Hand-written, no dependencies.
//
// Every page that has live regions ([data-live]) polls its own URL with
// ?format=json every 2 s and swaps in the regions' new HTML (rendered and
// escaped by the server). Charts ([data-chart]) are drawn as SVG from the
// page's data, at load and after every poll.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var SVG = "http://www.w3.org/2000/svg";

  function pageData() {
    var node = document.getElementById("page-data");
    if (!node) return {};
    try { return JSON.parse(node.textContent || "{}"); } catch (e) { return {}; }
  }

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(value, unit) {
    if (unit === "%") return value <= 100 ? 100 : Math.ceil(value / 10) * 10;
    if (value <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= value) return steps[i] * p;
    return 10 * p;
  }

  function hhmm(epoch) {
    var d = new Date(epoch * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function drawChart(figure, points) {
    var svg = figure.querySelector("svg.plot");
    if (!svg) return;
    var unit = figure.getAttribute("data-unit") || "";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 400, H = 140, left = 34, right = 8, top = 8, bottom = 20;
    var w = W - left - right, h = H - top - bottom;
    if (!points || points.length === 0) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "No data yet"));
      return;
    }
    var t0 = points[0][0], t1 = points[points.length - 1][0];
    if (t1 === t0) t1 = t0 + 1;
    var top_ = niceMax(Math.max.apply(null, points.map(function (p) { return p[1]; })), unit);
    function x(t) { return left + ((t - t0) / (t1 - t0)) * w; }
    function y(v) { return top + h - (v / top_) * h; }
    for (var g = 0; g <= 4; g++) {
      var v = (top_ * g) / 4;
      svg.appendChild(el("line", { x1: left, x2: left + w, y1: y(v), y2: y(v), "class": g ? "grid" : "axis" }));
      svg.appendChild(el("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end" },
        (Math.round(v * 10) / 10) + unit));
    }
    svg.appendChild(el("text", { x: left, y: H - 4 }, hhmm(t0)));
    svg.appendChild(el("text", { x: left + w, y: H - 4, "text-anchor": "end" }, hhmm(t1)));
    var d = points.map(function (p, i) { return (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1); }).join(" ");
    if (points.length > 1) {
      var area = d + " L" + x(t1).toFixed(1) + " " + y(0) + " L" + x(t0).toFixed(1) + " " + y(0) + " Z";
      svg.appendChild(el("path", { d: area, "class": "area" }));
    }
    svg.appendChild(el("path", { d: d, "class": "line" }));
    points.forEach(function (p) {
      var dot = el("circle", { cx: x(p[0]), cy: y(p[1]), r: points.length > 40 ? 1.2 : 2.5, "class": "bar-rect" });
      dot.appendChild(el("title", {}, hhmm(p[0]) + "  " + p[1] + unit));
      svg.appendChild(dot);
    });
  }

  // Labelled vertical bars: [[label, value], ...] (the cost page).
  function drawBars(figure, points) {
    var svg = figure.querySelector("svg.plot");
    if (!svg) return;
    var unit = figure.getAttribute("data-unit") || "";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 800, H = 260, left = 64, right = 8, top = 10, bottom = 70;
    var w = W - left - right, h = H - top - bottom;
    if (!points || points.length === 0) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "Nothing to show yet"));
      return;
    }
    var most = niceMax(Math.max.apply(null, points.map(function (p) { return p[1]; })), "");
    function y(v) { return top + h - (v / most) * h; }
    for (var g = 0; g <= 4; g++) {
      var v = (most * g) / 4;
      svg.appendChild(el("line", { x1: left, x2: left + w, y1: y(v), y2: y(v), "class": g ? "grid" : "axis" }));
      svg.appendChild(el("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end" },
        unit + (v < 1 ? v.toPrecision(2) : v.toFixed(2))));
    }
    var slot = w / points.length, width = Math.max(Math.min(slot * 0.7, 60), 2);
    points.forEach(function (p, i) {
      var cx = left + slot * i + slot / 2;
      var bar = el("rect", { x: cx - width / 2, y: y(p[1]), width: width,
        height: Math.max(top + h - y(p[1]), 0.5), "class": "bar-rect" });
      bar.appendChild(el("title", {}, p[0] + ": " + unit + p[1]));
      svg.appendChild(bar);
      var label = String(p[0]);
      if (label.length > 18) label = label.slice(0, 17) + "…";
      svg.appendChild(el("text", { x: cx, y: top + h + 12, "text-anchor": "end",
        transform: "rotate(-35 " + cx + " " + (top + h + 12) + ")" }, label));
    });
  }

  function drawCharts(data) {
    var charts = (data && data.charts) || {};
    document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
      var points = charts[figure.getAttribute("data-chart")] || [];
      if (figure.getAttribute("data-kind") === "bars") drawBars(figure, points);
      else drawChart(figure, points);
    });
  }

  function atBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 24;
  }

  function swapRegions(regions) {
    Object.keys(regions || {}).forEach(function (name) {
      var node = document.querySelector('[data-live="' + name + '"]');
      if (!node || node.innerHTML === regions[name]) return;
      var logs = node.querySelector("pre.logs");
      var follow = !logs || atBottom(logs);
      node.innerHTML = regions[name];
      var fresh = node.querySelector("pre.logs");
      if (fresh && follow) fresh.scrollTop = fresh.scrollHeight;
    });
  }

  function liveUrl() {
    var params = new URLSearchParams(location.search);
    params.set("format", "json");
    return location.pathname + "?" + params.toString();
  }

  var busy = false;
  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(liveUrl(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          location.href = "/console/signin?next=" + encodeURIComponent(location.pathname);
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        document.body.classList.toggle("live-off", !body);
        if (!body) return;
        swapRegions(body.regions);
        drawCharts(body.data);
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { document.body.classList.add("live-off"); })
      .then(function () { busy = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(pageData());
    document.querySelectorAll("pre.logs").forEach(function (p) { p.scrollTop = p.scrollHeight; });
    if (document.querySelector("[data-live], figure[data-chart]")) setInterval(poll, POLL_MS);
  });
})();
