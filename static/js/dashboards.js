/* Dashboards: draw each chart from the JSON the page embeds, follow a recompute, and apply
   filters as soon as they change. The numbers are computed by the server; this only draws. */
(function () {
  "use strict";

  var AI = "#0f7b5f";
  var POOLED = "#2f5bea";
  var MUTED = "#5b6475";
  var INK = "#1d2330";
  var GRID = "rgba(0, 0, 0, 0.1)";
  // Raw and pooled points of one group sit this far (in rows) either side of the row's line.
  var ROW_OFFSET = 0.18;
  // Below this canvas width the axis titles take their short forms.
  var NARROW = 560;
  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function signedTick(value) {
    return (value > 0 ? "+" : "") + value;
  }

  function percentTick(value) {
    return signedTick(value) + "%";
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

  function isZero(ctx) {
    return Boolean(ctx.tick) && ctx.tick.value === 0;
  }

  function valueAxis(points) {
    // A percent axis that always shows zero, with a little room beyond the widest interval,
    // and whose zero grid line is drawn darker and thicker than the others.
    var low = 0;
    var high = 0;
    points.forEach(function (p) {
      if (!p) return;
      [p.low, p.value, p.high].forEach(function (v) {
        if (typeof v === "number" && isFinite(v)) {
          low = Math.min(low, v);
          high = Math.max(high, v);
        }
      });
    });
    var pad = Math.max((high - low) * 0.06, 1);
    return {
      type: "linear",
      suggestedMin: low - pad,
      suggestedMax: high + pad,
      // No tick skipped (zero's grid line must stay) nor slanted: a narrow canvas gets fewer.
      ticks: { callback: percentTick, autoSkip: false, maxRotation: 0, maxTicksLimit: 11 },
      grid: {
        color: function (ctx) { return isZero(ctx) ? INK : GRID; },
        lineWidth: function (ctx) { return isZero(ctx) ? 2 : 1; },
      },
      afterBuildTicks: function (scale) {
        // Nice steps include zero whenever it is in range; make sure of it.
        if (scale.min <= 0 && scale.max >= 0 && !scale.ticks.some(function (t) { return t.value === 0; })) {
          scale.ticks.push({ value: 0 });
          scale.ticks.sort(function (a, b) { return a.value - b.value; });
        }
      },
    };
  }

  function titled(axis, wide, narrow) {
    // An axis title with a short form for a narrow canvas (see fitWidth).
    axis.title = { display: true, text: wide, narrow: narrow, wide: wide };
    return axis;
  }

  function fitWidth(options, width) {
    // Short axis titles and fewer value ticks on a narrow canvas; chosen again on resize.
    Object.keys(options.scales || {}).forEach(function (id) {
      var scale = options.scales[id];
      if (scale.title && scale.title.wide) {
        scale.title.text = width < NARROW ? scale.title.narrow : scale.title.wide;
        if (id === "x") {
          // A phone has room for six or so signed numbers, not for their "%" (the title says it).
          scale.ticks.maxTicksLimit = width < NARROW ? 7 : 11;
          scale.ticks.callback = width < NARROW ? signedTick : percentTick;
        }
      }
    });
  }

  function fitLabel(scale, text) {
    // Truncate a category label with an ellipsis to a share of the canvas width.
    var max = Math.max(60, Math.round(scale.chart.width * (scale.chart.width < NARROW ? 0.36 : 0.3)));
    var ctx = scale.ctx;
    ctx.save();
    ctx.font = window.Chart.helpers.toFont({ weight: "bold" }).string;
    var out = text;
    if (ctx.measureText(text).width > max) {
      var cut = text.length;
      do {
        cut -= 1;
        out = text.slice(0, cut).replace(/[\s(,:;-]+$/, "") + "…";
      } while (cut > 1 && ctx.measureText(out).width > max);
    }
    ctx.restore();
    return out;
  }

  function forest(config) {
    // One row per group, first on top; each group's raw and pooled points with their 95% CI
    // as horizontal error bars, offset above and below the row's line so neither hides the other.
    var colours = [AI, POOLED];
    var labels = config.labels;
    var sets = config.datasets;
    var values = [];
    sets.forEach(function (set) { values = values.concat(set.points); });
    function position(setIndex, group) {
      var present = [];
      sets.forEach(function (set, k) { if (set.points[group]) present.push(k); });
      if (present.length < 2) return group;
      return group + (present.indexOf(setIndex) - (present.length - 1) / 2) * 2 * ROW_OFFSET;
    }
    function chosen(ctx) {
      return Boolean(config.selected) && Boolean(ctx.tick) && labels[ctx.tick.value] === config.selected;
    }
    return {
      type: "scatterWithErrorBars",
      data: {
        labels: labels,
        datasets: sets.map(function (set, i) {
          return {
            label: set.label,
            pointStyle: i === 0 ? "circle" : "rectRot",
            pointRadius: 5,
            pointHoverRadius: 7,
            borderColor: colours[i],
            backgroundColor: colours[i],
            errorBarColor: colours[i],
            errorBarWhiskerColor: colours[i],
            errorBarWhiskerSize: 8,
            data: set.points.map(function (p, group) {
              var y = position(i, group);
              return p ? { x: p.value, xMin: p.low, xMax: p.high, y: y, group: group } : { x: null, y: y, group: group };
            }),
            uplift: set.points,
          };
        }),
      },
      options: {
        interaction: { mode: "nearest", intersect: false },
        // The legend shows each series' marker, as the points do: a circle and a diamond.
        plugins: { legend: { labels: { usePointStyle: true, boxHeight: 8 } } },
        scales: {
          x: titled(
            valueAxis(values),
            "← faster with AI allowed | slower with AI allowed →",
            ["← faster | slower →", "% time change, AI allowed"]
          ),
          y: {
            type: "linear",
            reverse: true,
            min: -0.5,
            max: Math.max(labels.length, 1) - 0.5,
            afterBuildTicks: function (scale) {
              scale.ticks = labels.map(function (_, i) { return { value: i }; });
            },
            grid: { color: "rgba(0, 0, 0, 0.06)" },
            ticks: {
              autoSkip: false,
              callback: function (value) {
                return labels[value] === undefined ? "" : fitLabel(this, labels[value]);
              },
              color: function (ctx) { return chosen(ctx) ? INK : MUTED; },
              font: function (ctx) { return { weight: chosen(ctx) ? "bold" : "normal" }; },
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
        scales: {
          y: titled(
            valueAxis(config.points),
            "Time change with AI allowed (below 0: faster)",
            ["Time change with AI", "below 0: faster"]
          ),
        },
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
        scales: { y: titled(valueAxis(config.points), "Time change (below 0: faster)", ["Time change", "below 0: faster"]) },
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
    fitWidth(options, box ? box.clientWidth : canvas.clientWidth);
    options.onResize = function (chart, size) { fitWidth(chart.options, size.width); };
    options.plugins = options.plugins || {};
    var callbacks = {
      label: function (ctx) {
        var points = ctx.dataset.uplift;
        if (points) return ctx.dataset.label + ": " + intervalLabel(points[ctx.dataIndex]);
        if (config.kind === "trend") return ctx.dataset.label + ": " + fmt(ctx.parsed.y);
        return ctx.dataset.label + ": " + ctx.formattedValue + "%";
      },
    };
    // The axis may show a group's name shortened: the tooltip names it in full.
    if (config.kind === "forest") {
      callbacks.title = function (items) { return items.length ? config.labels[items[0].raw.group] : ""; };
    }
    options.plugins.tooltip = { callbacks: callbacks };
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
      window.ChartErrorBars.ScatterWithErrorBarsController,
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
