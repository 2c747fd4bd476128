/* Small hand-written SVG charts (no library): line chart with several series, grouped bars, sentiment trend. */
"use strict";

const charts = (() => {
  const { svg, el } = kefu;
  const COLORS = ["#1a73e8", "#e37400", "#188038", "#d93025", "#9334e6", "#12b5cb"];

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function legend(series) {
    return el("div", { class: "legend" },
      series.map((s, i) => el("span", {}, el("i", { class: `swatch-${i}`, "data-color": s.color || COLORS[i] }), s.name)));
  }

  function paintLegend(node) {
    for (const i of node.querySelectorAll("i[data-color]")) i.style.background = i.dataset.color;
    return node;
  }

  /** Lines over shared x labels. series: [{name, values: [number|null]}]; fmt formats axis values. */
  function line({ labels, series, fmt = (v) => String(v), max = null, height = 220, title = "" }) {
    const W = 640, H = height, L = 48, R = 12, T = 12, B = 28;
    const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const top = max ?? niceMax(Math.max(0, ...all));
    const x = (i) => L + (labels.length <= 1 ? 0 : (i * (W - L - R)) / (labels.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    for (let k = 0; k <= 4; k += 1) {
      const v = (top * k) / 4;
      root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eceff1" }));
      root.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
    }
    const step = Math.max(1, Math.ceil(labels.length / 12));
    labels.forEach((label, i) => {
      if (i % step === 0) root.append(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, label));
    });
    series.forEach((s, si) => {
      const color = s.color || COLORS[si % COLORS.length];
      let d = "";
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        d += `${d && s.values[i - 1] !== null && s.values[i - 1] !== undefined ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      });
      if (d) root.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2 }));
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        root.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, fill: color },
          svg("title", {}, `${s.name} ${labels[i]}：${fmt(v)}`)));
      });
    });
    return paintLegend(el("div", { class: "chart" }, legend(series), root));
  }

  /** Grouped bars: groups = x categories, series = bars per group. */
  function bars({ groups, series, fmt = (v) => String(v), max = null, height = 220, title = "" }) {
    const W = 640, H = height, L = 48, R = 12, T = 12, B = 28;
    const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const top = max ?? niceMax(Math.max(0, ...all));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    for (let k = 0; k <= 4; k += 1) {
      const v = (top * k) / 4;
      root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eceff1" }));
      root.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
    }
    const gw = (W - L - R) / Math.max(1, groups.length);
    const labelStep = Math.max(1, Math.ceil(groups.length / 12));
    const bw = Math.min(36, (gw * 0.8) / Math.max(1, series.length));
    groups.forEach((g, gi) => {
      const x0 = L + gi * gw + (gw - bw * series.length) / 2;
      series.forEach((s, si) => {
        const v = s.values[gi];
        if (v === null || v === undefined) return;
        const color = s.color || COLORS[si % COLORS.length];
        root.append(svg("rect", { x: x0 + si * bw, y: y(v), width: bw - 2, height: Math.max(0, y(0) - y(v)), fill: color },
          svg("title", {}, `${g} · ${s.name}：${fmt(v)}`)));
      });
      if (gi % labelStep === 0) root.append(svg("text", { x: L + gi * gw + gw / 2, y: H - 8, "text-anchor": "middle" }, g));
    });
    return paintLegend(el("div", { class: "chart" }, legend(series), root));
  }

  /** Sentiment per message, -1 (angry) .. +1 (positive): points coloured by label. */
  const MOOD = { angry: -1, negative: -0.5, neutral: 0, positive: 1 };
  const MOOD_COLOR = { angry: "#d93025", negative: "#e37400", neutral: "#80868b", positive: "#188038" };
  function sentiment(points) {
    const W = 300, H = 80, P = 8;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "情绪走势" });
    const y = (v) => P + ((H - 2 * P) * (1 - v)) / 2;
    root.append(svg("line", { x1: 0, x2: W, y1: y(0), y2: y(0), stroke: "#eceff1" }));
    const n = points.length;
    const x = (i) => (n <= 1 ? W / 2 : P + (i * (W - 2 * P)) / (n - 1));
    let d = "";
    points.forEach((p, i) => {
      const v = MOOD[p.label] ?? 0;
      d += `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (d) root.append(svg("path", { d, fill: "none", stroke: "#9aa0a6", "stroke-width": 1.5 }));
    points.forEach((p, i) => {
      root.append(svg("circle", { cx: x(i), cy: y(MOOD[p.label] ?? 0), r: 4, fill: MOOD_COLOR[p.label] || "#80868b" },
        svg("title", {}, `${kefu.fmtTime(p.at)} ${MOOD_LABEL[p.label] || p.label}`)));
    });
    return el("div", { class: "chart" }, root);
  }
  const MOOD_LABEL = { angry: "愤怒", negative: "不满", neutral: "平静", positive: "满意" };

  return { line, bars, sentiment, COLORS, MOOD_LABEL };
})();
