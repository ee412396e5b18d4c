// The report page. Every string from the run (keys, answers, messages, input rows) is
// put in the page as text (textContent, attributes set by name), never as HTML.
"use strict";
(function () {
  const PAGE = 25;
  const R = (window.REPORT = { chunks: {}, waiting: {} });
  const state = { ids: [], page: 0 };

  R.chunk = function (n, rows) {
    R.chunks[n] = rows;
    (R.waiting[n] || []).forEach((f) => f());
    delete R.waiting[n];
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function fmt(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : String(n);
  }

  function pct(x) {
    return (100 * x).toFixed(1) + "%";
  }

  function table(head, rows) {
    const t = el("table", {}, el("tr", {}, ...head.map((h) => el("th", {}, h))));
    if (!rows.length) rows = [["none", ""]];
    for (const r of rows) {
      t.append(el("tr", {}, ...r.map((c, i) => el("td", i ? { class: "n" } : {}, c))));
    }
    return t;
  }

  function statsPanel(s) {
    const root = document.getElementById("stats");
    for (const t of s.tasks) {
      const q = t.quality;
      const box = el("div", { class: "task" });
      box.append(el("h2", {}, "Task " + t.name + (t.task !== t.name ? " (" + t.task + ")" : "")));
      const tables = el("div", { class: "tables" });
      tables.append(
        table(["records", "count"], [
          ["all", fmt(q.records)], ["ok", fmt(q.ok)], ["failed", fmt(q.failed)],
          ["with model text", fmt(q.answers)], ["shown below", fmt(t.shown)],
        ]),
        table(["error kind", "count"], Object.entries(q.errors_by_kind).map(([k, v]) => [k, fmt(v)])),
        table(["quality flag", "count", "share"], s.flags.map((f) => [f, fmt(q.flags[f]), pct(q.flag_share_of_answers[f])])),
        table(["field", "filled"], Object.entries(q.fill_rates).map(([k, v]) => [k, pct(v)])),
      );
      const L = q.lengths || {};
      const N = q.near_duplicates || {};
      tables.append(
        table(["answers", ""], [
          ["length unit", L.unit || "-"], ["median length", fmt(L.median ?? "-")],
          ["5th-95th percentile", (L.p5 ?? "-") + " - " + (L.p95 ?? "-")],
          ["outlier below / above", (L.low ?? "-") + " / " + (L.high ?? "-")],
          ["exact copies", fmt(N.exact_copies ?? 0)], ["near copies", fmt(N.near_copies ?? 0)],
          ["compared by MinHash", fmt(N.compared_by_minhash ?? 0) + (N.sampled ? " (sample)" : "")],
        ]),
      );
      box.append(tables);
      if (t.videos) box.append(videosBox(s.tasks.indexOf(t), t.videos));
      const charts = el("div", { class: "charts" });
      for (const c of t.charts) charts.append(el("img", { src: c.src, alt: c.title, title: c.title }));
      box.append(charts);
      root.append(box);
    }
  }

  // A clip task's videos: the roll-up's counts, and a sample of videos (their clips in
  // time order, their summary beside them) loaded from its data file when opened.
  R.videoSample = function (t, videos) {
    const box = document.getElementById("videos-" + t);
    box.replaceChildren(...videos.map(videoCard));
    box.setAttribute("data-ready", "1");
  };

  function videosBox(t, v) {
    const counts = Object.entries(v.counts).map(([k, n]) => [k, fmt(n)]);
    const box = el("div", { class: "videos" }, el("h3", {}, "Videos"),
      el("div", { class: "tables" },
        table(["videos", "count"], [["all", fmt(v.videos)], ...counts]),
        table(["clips", ""], [["clips", fmt(v.clips)], ["hours of video", fmt(v.hours)]])));
    const sample = el("div", { id: "videos-" + t, class: "video-sample", "data-ready": "0" });
    const more = el("details", {}, el("summary", {}, "a sample of videos: clips and summary"), sample);
    more.addEventListener("toggle", () => {
      if (!more.open || sample.getAttribute("data-loading")) return;
      sample.setAttribute("data-loading", "1");
      document.head.append(el("script", { src: v.src }));
    }, { once: false });
    box.append(more);
    return box;
  }

  function videoCard(v) {
    const c = el("article", { class: "card video " + (v.status === "ok" ? "ok" : "error"), "data-video": v.key });
    c.append(el("div", { class: "head" }, el("span", { class: "key" }, v.key),
      el("span", { class: "badge " + (v.status === "ok" ? "ok" : "error") }, v.status),
      el("span", { class: "badge" }, (v.duration === null ? "?" : v.duration.toFixed(1)) + " s, " +
        v.ok + " ok, " + v.failed + " failed, " + v.pending + " pending")));
    if (v.error) c.append(el("div", { class: "message" }, v.error));
    const sum = v.summary;
    if (sum && sum.text !== undefined) c.append(el("div", { class: "meta" }, "summary:"), el("div", { class: "answer summary" }, sum.text));
    else if (sum) c.append(el("div", { class: "message summary" }, "summary: " + sum.error));
    const rows = v.clips.map((k) => [(k.start ?? 0) + "-" + (k.end ?? "end") + " s", k.status, k.text ?? k.error ?? ""]);
    if (v.more_clips) rows.push(["", "", "… " + v.more_clips + " more clips"]);
    if (rows.length) {
      const t = table(["clip", "status", "caption"], rows);
      t.classList.add("clips");
      c.append(t);
    }
    return c;
  }

  function options(id, items) {
    const sel = document.getElementById(id);
    for (const [value, label] of items) sel.append(el("option", { value: String(value) }, label));
    sel.addEventListener("change", filter);
  }

  function filter() {
    const task = document.getElementById("f-task").value;
    const status = document.getElementById("f-status").value;
    const kind = document.getElementById("f-kind").value;
    const flag = document.getElementById("f-flag").value;
    const q = document.getElementById("f-search").value.trim().toLowerCase();
    const ids = [];
    R.index.forEach((e, i) => {
      if (task !== "" && e[0] !== +task) return;
      if (status !== "" && e[1] !== +status) return;
      if (kind !== "" && e[2] !== +kind) return;
      if (flag !== "" && !(e[3] & (1 << +flag))) return;
      if (q && !e[4].toLowerCase().includes(q)) return;
      ids.push(i);
    });
    state.ids = ids;
    state.page = 0;
    render();
  }

  function load(n, then) {
    if (R.chunks[n]) return then();
    if (R.waiting[n]) return R.waiting[n].push(then);
    R.waiting[n] = [then];
    const s = document.createElement("script");
    s.src = "data/chunk-" + String(n).padStart(5, "0") + ".js";
    document.head.append(s);
  }

  function render() {
    const s = R.summary;
    const pages = Math.max(1, Math.ceil(state.ids.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const ids = state.ids.slice(state.page * PAGE, (state.page + 1) * PAGE);
    document.getElementById("count").textContent =
      fmt(state.ids.length) + " of " + fmt(R.index.length) + " shown records match" +
      " (the stats above count every record; errors are shown up to " + fmt(s.caps.max_errors) +
      ", and up to " + fmt(s.caps.per_category) + " records of each status, error kind and flag)";
    document.getElementById("page").textContent = "page " + (state.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
    const need = [...new Set(ids.map((i) => Math.floor(i / s.chunk)))];
    const token = (state.token = {});
    let left = need.length;
    const done = () => {
      if (--left > 0 || token !== state.token) return;
      const box = document.getElementById("rows");
      box.replaceChildren(...ids.map((i) => card(R.chunks[Math.floor(i / s.chunk)][i % s.chunk])));
      box.setAttribute("data-ready", "1");
    };
    document.getElementById("rows").setAttribute("data-ready", "0");
    if (!need.length) { left = 1; done(); }
    need.forEach((n) => load(n, done));
  }

  function card(r) {
    const s = R.summary;
    const c = el("article", { class: "card " + r.status, "data-key": r.key });
    const head = el("div", { class: "head" },
      el("span", { class: "key" }, r.key),
      el("span", { class: "badge" }, s.tasks[r.task].name),
      el("span", { class: "badge " + r.status }, r.error ? r.status + ": " + r.error.kind : r.status));
    for (const f of r.flags) head.append(el("span", { class: "badge flag" }, f));
    if (r.clip) {
      head.append(el("span", { class: "badge" },
        "clip " + (r.clip.index ?? "") + " " + (r.clip.start ?? 0) + "-" + (r.clip.end ?? "end") + " s"));
    }
    if (r.video_key && r.clip) head.append(el("span", { class: "badge" }, "of " + r.video_key));
    c.append(head);
    const fr = r.frames;
    if (fr && fr.frames) {
      const strip = el("div", { class: "strip" });
      for (const f of fr.frames) {
        strip.append(el("figure", {}, el("img", { src: f.src, alt: "frame at " + f.t + " s", loading: "eager" }),
          el("figcaption", {}, f.t === null ? "" : f.t.toFixed(2) + " s")));
      }
      c.append(strip, el("div", { class: "meta" },
        fr.frames.length + " of " + fr.sampled + " sampled frames, " + fr.width + "x" + fr.height + " px as the model saw them"));
    } else if (fr && fr.error) {
      c.append(el("div", { class: "meta" }, "no frames: " + fr.error));
    }
    if (r.answer && r.answer.fields) {
      c.append(table(["field", "value"], r.answer.fields));
      c.lastChild.classList.add("fields");
    } else if (r.answer) {
      c.append(el("div", { class: "answer" }, r.answer.text));
    }
    if (r.error) c.append(el("div", { class: "message" }, r.error.message));
    if (r.text !== undefined && r.text !== null) {
      c.append(el("div", { class: "meta" }, "model text:"), el("div", { class: "answer" }, r.text));
    }
    if (r.copy_of) {
      c.append(el("div", { class: "meta" }, "copy of " + r.copy_of.key +
        (r.copy_of.similarity < 1 ? " (similarity " + r.copy_of.similarity + ")" : " (same text)")));
    }
    const t = r.tokens || {};
    const meta = [];
    if (t.prompt !== undefined) meta.push("tokens: prompt " + t.prompt + ", generated " + t.generated + ", cached " + t.cached);
    if (r.finish_reason) meta.push("finish: " + r.finish_reason);
    if (r.decode_s !== undefined && r.decode_s !== null) meta.push("decode " + r.decode_s + " s");
    if (r.engine_s !== undefined && r.engine_s !== null) meta.push("engine " + r.engine_s + " s");
    if (r.rank !== undefined && r.rank !== null) meta.push("rank " + r.rank);
    if (meta.length) c.append(el("div", { class: "meta" }, meta.join(" · ")));
    c.append(el("details", {}, el("summary", {}, "input row"), el("pre", {}, r.raw)));
    return c;
  }

  R.start = function () {
    const s = R.summary;
    if (!s || !R.index) return;
    document.title = s.title;
    document.getElementById("title").textContent = s.title;
    document.getElementById("generated").textContent = "generated " + s.generated;
    document.getElementById("noscript").remove();
    statsPanel(s);
    options("f-task", [["", "all tasks"], ...s.tasks.map((t, i) => [i, t.name])]);
    options("f-status", [["", "any status"], [0, "ok"], [1, "error"]]);
    options("f-kind", [["", "any error kind"], ...s.kinds.map((k, i) => [i, k])]);
    options("f-flag", [["", "any flag"], ...s.flags.map((f, i) => [i, f])]);
    document.getElementById("f-search").addEventListener("input", filter);
    document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
    document.getElementById("prev").addEventListener("click", () => { state.page--; render(); });
    document.getElementById("next").addEventListener("click", () => { state.page++; render(); });
    filter();
  };
  document.addEventListener("DOMContentLoaded", () => R.start());
})();
