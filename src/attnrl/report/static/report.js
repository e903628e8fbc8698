// attnrl report: the runs table (filtered, paged) and the transcript viewer.
// Everything is built with textContent: model output is never parsed as HTML.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const T = JSON.parse(document.getElementById("report-transcripts").textContent);
  const rows = D.rows.map((r, i) => Object.assign({ i: i }, r));
  const pageSize = D.page_size || 50;
  let page = 0;
  let shown = rows;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function fill(select, values, label) {
    select.replaceChildren(el("option", { value: "" }, "all"));
    for (const v of values) select.append(el("option", { value: v }, label ? label(v) : v || "(none)"));
  }
  const uniq = (key) => [...new Set(rows.map((r) => r[key]))].sort((a, b) => (a > b) - (a < b));
  const fBatch = document.getElementById("f-batch");
  const fOutcome = document.getElementById("f-outcome");
  const fCategory = document.getElementById("f-category");
  const fBug = document.getElementById("f-bug");
  fill(fBatch, uniq("b").map(String), (v) => D.batches[Number(v)]);
  fill(fOutcome, uniq("o"));
  fill(fCategory, uniq("c").filter((c) => c));
  fill(fBug, uniq("bug").filter((c) => c));
  if (D.batches.length < 2) {
    document.getElementById("f-batch-label").hidden = true;
    for (const c of document.querySelectorAll(".col-batch")) c.hidden = true;
  }

  const fmt = (x, digits) => (x === null || x === undefined ? "n/a" : Number(x).toFixed(digits));

  function render() {
    const tbody = document.querySelector("#runs-table tbody");
    const pages = Math.max(1, Math.ceil(shown.length / pageSize));
    page = Math.min(page, pages - 1);
    const slice = shown.slice(page * pageSize, (page + 1) * pageSize);
    tbody.replaceChildren(
      ...slice.map((r) => {
        const tr = el(
          "tr",
          { "data-index": r.i, "data-run-id": r.id, class: r.p ? "pass" : "fail", tabindex: "0" },
          el("td", {}, r.id),
          D.batches.length > 1 ? el("td", {}, D.batches[r.b]) : null,
          el("td", { class: "outcome o-" + r.o }, r.o),
          el("td", {}, r.c),
          el("td", {}, r.bug),
          el("td", {}, r.s),
          el("td", {}, r.t),
          el("td", {}, fmt(r.d, 2) + " s"),
          el("td", {}, r.usd === null ? "n/a" : "$" + fmt(r.usd, 4)),
          el("td", {}, r.r === null ? "n/a" : fmt(r.r, 2))
        );
        tr.addEventListener("click", () => openRun(r));
        tr.addEventListener("keydown", (ev) => ev.key === "Enter" && openRun(r));
        return tr;
      })
    );
    document.getElementById("runs-count").textContent =
      shown.length + " of " + rows.length + " runs";
    document.getElementById("page").textContent = " page " + (page + 1) + " of " + pages + " ";
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
  }

  function applyFilters() {
    const b = fBatch.value, o = fOutcome.value, c = fCategory.value, g = fBug.value;
    shown = rows.filter(
      (r) =>
        (b === "" || String(r.b) === b) &&
        (o === "" || r.o === o) &&
        (c === "" || r.c === c) &&
        (g === "" || r.bug === g)
    );
    page = 0;
    render();
  }
  for (const f of [fBatch, fOutcome, fCategory, fBug]) f.addEventListener("change", applyFilters);
  document.getElementById("prev").addEventListener("click", () => { page -= 1; render(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; render(); });

  async function inflate(b64) {
    const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return JSON.parse(await new Response(stream).text());
  }

  const chunks = new Map(); // a few inflated blocks, most recent last
  async function detailOf(i) {
    const k = Math.floor(i / D.chunk);
    if (!chunks.has(k)) {
      chunks.set(k, await inflate(T[k]));
      if (chunks.size > 8) chunks.delete(chunks.keys().next().value);
    }
    return chunks.get(k)[i % D.chunk];
  }

  function submitted(transcript) {
    let answer = null;
    for (const m of transcript) {
      for (const c of m.tool_calls || []) {
        if (c.name !== "submit_answer") continue;
        const a = c.arguments;
        answer = a && typeof a === "object" && "answer" in a ? a.answer : a;
      }
    }
    return answer;
  }

  function matrix(m, other, tol) {
    if (!Array.isArray(m)) return el("pre", {}, JSON.stringify(m));
    const table = el("table", { class: "matrix" });
    m.forEach((row, i) => {
      const tr = el("tr");
      (Array.isArray(row) ? row : [row]).forEach((v, j) => {
        const o = other && Array.isArray(other[i]) ? other[i][j] : undefined;
        const bad = typeof v === "number" && typeof o === "number" && Math.abs(v - o) >= tol;
        tr.append(el("td", bad ? { class: "bad" } : {}, typeof v === "number" ? v.toFixed(4) : String(v)));
      });
      table.append(tr);
    });
    return table;
  }

  function answerTable(d) {
    const expected = d.expected_hash ? D.expected[d.expected_hash] : null;
    const sent = submitted(d.transcript);
    const answer = sent && typeof sent === "object" ? sent : null;
    const keys = Object.keys(expected || d.errors || {});
    const t = el("table", { class: "answer" },
      el("tr", {}, el("th", {}, "component"), el("th", {}, "error"), el("th", {}, "tolerance"),
        el("th", {}, "submitted"), el("th", {}, "expected"), el("th", {}, "matched bug")));
    const bugs = (d.diagnosis && d.diagnosis.component_bugs) || {};
    for (const k of keys) {
      const err = d.errors[k];
      const tol = d.tolerances[k];
      const within = typeof err === "number" && typeof tol === "number" && err < tol;
      t.append(el("tr", { class: err === undefined || err === null ? "" : within ? "ok" : "bad" },
        el("th", {}, k),
        el("td", {}, err === undefined || err === null ? "n/a" : typeof err === "number" ? err.toFixed(4) : String(err)),
        el("td", {}, tol === undefined ? "" : tol),
        el("td", {}, answer && k in answer ? matrix(answer[k], expected && expected[k], tol) : "(missing)"),
        el("td", {}, expected ? matrix(expected[k], answer && answer[k], tol) : "not recorded"),
        el("td", {}, bugs[k] || "")));
    }
    return t;
  }

  // One turn's figures (latency, tokens, finish reason, retries) and, for an empty or
  // truncated turn, its cause.
  function turnLine(t) {
    const parts = [t.latency_s == null ? "not timed" : t.latency_s.toFixed(1) + " s", t.input_tokens + " in / " + t.output_tokens + " out",
      "finish " + (t.finish_reason || "n/a")];
    if (t.retries) parts.push(t.retries + (t.retries === 1 ? " retry" : " retries"));
    const line = el("p", { class: "turn" + (t.issue ? " turn-issue" : "") }, "turn: " + parts.join(", "));
    if (t.issue) line.append(el("br"), t.issue + " turn: " + (t.cause || ""));
    return line;
  }

  function message(m) {
    const box = el("div", { class: "msg role-" + m.role });
    if (m.role === "user") {
      const text = m.prompt_of ? D.prompts[m.prompt_of] : m.text || "";
      box.append(el("details", {}, el("summary", {}, "prompt (" + text.length + " characters)"),
        el("pre", { class: "prompt" }, text)));
      return box;
    }
    if (m.role === "assistant") {
      box.append(el("h4", {}, "assistant"));
      if (m.turn) box.append(turnLine(m.turn));
      if (m.text) box.append(el("pre", { class: "text" }, m.text));
      for (const c of m.tool_calls || []) {
        const args = c.arguments || {};
        const code = c.name === "python_expression" && typeof args.expression === "string";
        box.append(el("div", { class: "call" }, el("span", { class: "tool" }, "tool call: " + c.name),
          el("pre", { class: code ? "code" : "json" },
            el("code", {}, code ? args.expression : JSON.stringify(args)))));
      }
      return box;
    }
    box.append(el("h4", {}, "tool result"));
    for (const r of m.tool_results || []) {
      box.append(el("pre", { class: r.is_error ? "result error" : "result" },
        (r.is_error ? "ERROR: " : "") + r.content));
    }
    return box;
  }

  async function openRun(r) {
    const panel = document.getElementById("detail");
    const body = document.getElementById("detail-body");
    body.replaceChildren(el("p", {}, "loading run " + r.id + " ..."));
    panel.hidden = false;
    const d = await detailOf(r.i);
    const diag = d.diagnosis || {};
    const notes = diag.inconsistencies || [];
    body.replaceChildren(
      el("h3", {}, "Run " + r.id + (D.batches.length > 1 ? " (" + D.batches[r.b] + ")" : "")),
      el("p", { class: "outcome o-" + r.o }, r.o + (r.c ? " / " + r.c : "") + ": " + (d.message || "")),
      el("p", {}, "matched bug: " + (diag.closest_bug || "none") +
        (d.plan ? "; simulated plan: " + d.plan + " (intended " + (d.intended_category || "pass") + ")" : "") +
        "; stop: " + d.stop + "; mask flag: " + JSON.stringify(d.mask_flag) +
        (d.repeats ? "; repeated calls: " + d.repeats : "")),
      el("h4", {}, "self-consistency"),
      notes.length ? el("ul", {}, ...notes.map((n) => el("li", {}, n))) : el("p", {}, "no notes"),
      el("h4", {}, "submitted vs expected"),
      answerTable(d),
      el("h4", {}, "transcript"),
      ...d.transcript.map(message)
    );
    panel.setAttribute("data-run-id", r.id);
    panel.scrollIntoView({ block: "start" });
  }
  document.getElementById("detail-close").addEventListener("click", () => {
    document.getElementById("detail").hidden = true;
  });
  render();
})();
