/* Dashboards: draw each chart from the JSON the page embeds, follow a recompute, and apply
   filters as soon as they change. The numbers are computed by the server; this only draws. */
(function () {
  "use strict";

  var AI = "#0f7b5f";
  var POOLED = "#2f5bea";
  var MUTED = "#5b6475";
  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function percentTick(value) {
    return (value > 0 ? "+" : "") + value + "%";
  }

  function fmt(value) {
    return value === null || value === undefined ? "n/a" : (value > 0 ? "+" : "") + value.toFixed(1) + "%";
  }

  function intervalLabel(point) {
    if (!point) return "insufficient data";
    var text = fmt(point.value);
    if (point.low !== undefined) text += " (95% CI " + fmt(point.low) + " to " + fmt(point.high) + ")";
    return text;
  }

  function forest(config) {
    // Points with horizontal error bars, one row per group; raw and pooled side by side.
    var colours = [AI, POOLED];
    return {
      type: "lineWithErrorBars",
      data: {
        labels: config.labels,
        datasets: config.datasets.map(function (set, i) {
          return {
            label: set.label,
            showLine: false,
            pointStyle: i === 0 ? "circle" : "rectRot",
            pointRadius: 5,
            borderColor: colours[i],
            backgroundColor: colours[i],
            errorBarColor: colours[i],
            errorBarWhiskerColor: colours[i],
            errorBarWhiskerSize: 8,
            data: set.points.map(function (p) {
              return p ? { x: p.value, xMin: p.low, xMax: p.high } : { x: null };
            }),
            uplift: set.points,
          };
        }),
      },
      options: {
        indexAxis: "y",
        scales: {
          x: { title: { display: true, text: "Time change with AI allowed" }, ticks: { callback: percentTick } },
          y: {
            ticks: {
              color: function (ctx) {
                return config.selected && config.labels[ctx.index] === config.selected ? "#1d2330" : MUTED;
              },
              font: function (ctx) {
                return { weight: config.selected && config.labels[ctx.index] === config.selected ? "bold" : "normal" };
              },
            },
          },
        },
      },
    };
  }

  function trend(config) {
    // The estimate as a line, its 95% CI as a band between two invisible lines.
    function series(key) {
      return config.points.map(function (p) { return p ? p[key] : null; });
    }
    return {
      type: "line",
      data: {
        labels: config.labels,
        datasets: [
          { label: "95% CI high", data: series("high"), borderWidth: 0, pointRadius: 0, fill: "+1", backgroundColor: "rgba(15, 123, 95, 0.15)", spanGaps: false },
          { label: "95% CI low", data: series("low"), borderWidth: 0, pointRadius: 0, fill: false, spanGaps: false },
          { label: "Time change", data: series("value"), borderColor: AI, backgroundColor: AI, pointRadius: 3, spanGaps: false },
        ],
      },
      options: {
        scales: { y: { title: { display: true, text: "Time change with AI allowed" }, ticks: { callback: percentTick } } },
        plugins: { legend: { labels: { filter: function (item) { return item.datasetIndex === 2; } } } },
      },
    };
  }

  function bars(config) {
    return {
      type: "barWithErrorBars",
      data: {
        labels: config.labels,
        datasets: [{
          label: "Time change",
          backgroundColor: ["#c7d2fe", "#c7d2fe", AI],
          data: config.points.map(function (p) {
            if (!p) return null;
            return p.low === undefined ? { y: p.value } : { y: p.value, yMin: p.low, yMax: p.high };
          }),
          uplift: config.points,
        }],
      },
      options: {
        scales: { y: { ticks: { callback: percentTick } } },
        plugins: { legend: { display: false } },
      },
    };
  }

  function hbar(config) {
    return {
      type: "bar",
      data: { labels: config.labels, datasets: [{ label: config.label, data: config.values, backgroundColor: POOLED }] },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, ticks: { callback: function (v) { return v + "%"; } } } },
        plugins: { legend: { display: false } },
      },
    };
  }

  var BUILDERS = { forest: forest, trend: trend, bars: bars, hbar: hbar };

  function draw(canvas) {
    var slug = canvas.id.replace(/^chart-/, "");
    var source = document.getElementById("chart-data-" + slug);
    if (!source) return;
    var config = JSON.parse(source.textContent);
    // The box's height follows its row count; set here, as the CSP refuses inline styles.
    var box = canvas.closest(".chart-box");
    if (box && box.dataset.rows) box.style.setProperty("--rows", box.dataset.rows);
    var chartConfig = BUILDERS[config.kind](config);
    var options = chartConfig.options;
    options.maintainAspectRatio = false;
    options.animation = reduceMotion ? false : { duration: 300 };
    options.plugins = options.plugins || {};
    options.plugins.tooltip = {
      callbacks: {
        label: function (ctx) {
          var points = ctx.dataset.uplift;
          if (points) return ctx.dataset.label + ": " + intervalLabel(points[ctx.dataIndex]);
          if (config.kind === "trend") return ctx.dataset.label + ": " + fmt(ctx.parsed.y);
          return ctx.dataset.label + ": " + ctx.formattedValue + "%";
        },
      },
    };
    new window.Chart(canvas, chartConfig);
  }

  function followJob() {
    var box = document.getElementById("job");
    if (!box) return;
    var bar = box.querySelector("progress");
    var state = box.querySelector(".job-state");
    function poll() {
      fetch(box.dataset.jobUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          bar.value = job.progress;
          state.textContent = "(" + Math.round(job.progress * 100) + "% done)";
          if (job.status === "succeeded") {
            window.location.reload();
          } else if (job.status === "failed") {
            state.textContent = "(failed: " + job.message + "; the figures shown are the previous ones)";
          } else {
            window.setTimeout(poll, 1000);
          }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 500);
  }

  function autoApplyFilters() {
    var form = document.getElementById("filters");
    if (!form) return;
    form.addEventListener("change", function (event) {
      // A new team has its own task types and windows: start its filters afresh.
      if (event.target.name === "team") {
        form.querySelector("[name=type]").value = "";
      }
      if (event.target.name === "team" && event.target.value === "org") {
        form.action = form.action.replace(/\/dashboards\/.*$/, "/dashboards/org/");
      }
      if (event.target.name === "team" && event.target.value !== "org" && event.target.dataset.org) {
        form.action = form.action.replace(/\/dashboards\/org\/$/, "/dashboards/");
      }
      form.requestSubmit();
    });
    form.addEventListener("submit", function () {
      // An empty task type or the org marker need not be in the shared URL.
      Array.prototype.forEach.call(form.elements, function (el) {
        if ((el.name === "type" && !el.value) || (el.name === "team" && el.value === "org")) el.disabled = true;
      });
    });
  }

  function drawIn(root) {
    // Charts inside a closed section wait until it opens: a hidden canvas has no size.
    root.querySelectorAll(".chart-box canvas").forEach(function (canvas) {
      if (!window.Chart.getChart(canvas)) draw(canvas);
    });
  }

  var OPEN_KEY = "uplift-dashboard-open";

  function openSections() {
    try {
      return JSON.parse(window.localStorage.getItem(OPEN_KEY) || "[]");
    } catch (error) {
      return [];
    }
  }

  function setUpSections() {
    // The sections a reader opened stay open on the next page (filters reload the page).
    var remembered = openSections();
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    document.querySelectorAll("details[data-section]").forEach(function (section) {
      if (remembered.indexOf(section.dataset.section) >= 0 || (target && section.contains(target))) {
        section.open = true;
      }
      section.addEventListener("toggle", function () {
        var open = openSections().filter(function (slug) { return slug !== section.dataset.section; });
        if (section.open) {
          open.push(section.dataset.section);
          drawIn(section);
          showScrollHints(section);
        }
        try {
          window.localStorage.setItem(OPEN_KEY, JSON.stringify(open));
        } catch (error) { /* private mode: sections simply start closed */ }
      });
    });
    if (target) target.scrollIntoView();
  }

  function showScrollHints(root) {
    // Say so under a table that is wider than its box (the shadow alone is easy to miss).
    root.querySelectorAll(".table-scroll").forEach(function (box) {
      var hint = box.nextElementSibling;
      if (hint && hint.classList.contains("scroll-hint")) {
        hint.hidden = box.scrollWidth <= box.clientWidth + 1;
      }
    });
  }

  function setUpPrint() {
    var button = document.querySelector("[data-print]");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  }

  setUpSections();
  if (window.Chart && window.ChartErrorBars) {
    window.Chart.register(
      window.ChartErrorBars.BarWithErrorBarsController,
      window.ChartErrorBars.BarWithErrorBar,
      window.ChartErrorBars.LineWithErrorBarsController,
      window.ChartErrorBars.PointWithErrorBar
    );
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    document.querySelectorAll(".chart-box canvas").forEach(function (canvas) {
      var section = canvas.closest("details");
      if (!section || section.open) draw(canvas);
    });
  }
  showScrollHints(document);
  window.addEventListener("resize", function () { showScrollHints(document); });
  setUpPrint();
  followJob();
  autoApplyFilters();
})();
