// Statistics page charts: reads /stats/data.json (URL in data-url) and draws them with the
// embedded ECharts. No inline script: the page's CSP allows only files from this server.
(function () {
  "use strict";
  var root = document.getElementById("stats-charts");
  if (!root || typeof echarts === "undefined") return;

  var charts = [];
  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el) return;
    var c = echarts.init(el);
    c.setOption(option);
    charts.push(c);
  }

  fetch(root.getAttribute("data-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    })
    .then(function (d) {
      var L = d.labels;
      chart("chart-stages", {
        tooltip: { trigger: "axis" },
        grid: { left: 48, right: 16, top: 16, bottom: 64 },
        xAxis: { type: "category", data: d.stages.map(function (s) { return s.label; }), axisLabel: { interval: 0, rotate: 30 } },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ type: "bar", name: L.stages, data: d.stages.map(function (s) { return s.n; }) }]
      });
      chart("chart-trend", {
        tooltip: { trigger: "axis" },
        legend: { data: [L.reported, L.closed] },
        grid: { left: 48, right: 16, top: 32, bottom: 32 },
        xAxis: { type: "category", data: d.days.map(function (x) { return x.date; }) },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { type: "line", name: L.reported, smooth: true, showSymbol: false, data: d.days.map(function (x) { return x.cases; }) },
          { type: "line", name: L.closed, smooth: true, showSymbol: false, data: d.days.map(function (x) { return x.closed; }) }
        ]
      });
      var cats = d.categories.slice().reverse();
      chart("chart-categories", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        grid: { left: 120, right: 24, top: 8, bottom: 24 },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: cats.map(function (c) { return c.name; }) },
        series: [{ type: "bar", name: L.categories, data: cats.map(function (c) { return c.n; }) }]
      });
      chart("chart-channels", {
        tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
        legend: { bottom: 0 },
        series: [{ type: "pie", radius: ["35%", "65%"], name: L.channels,
          data: d.channels.map(function (c) { return { name: c.label, value: c.n }; }) }]
      });
    })
    .catch(function (e) {
      root.setAttribute("data-error", String(e));
    });

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
